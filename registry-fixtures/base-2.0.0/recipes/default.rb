# base 2.0.0: the default recipe of a larder test fixture.
log 'base 2.0.0'
