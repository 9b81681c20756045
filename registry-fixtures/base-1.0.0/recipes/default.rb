# base 1.0.0: the default recipe of a larder test fixture.
log 'base 1.0.0'
