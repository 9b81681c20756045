# packages 2.0.0: the default recipe of a larder test fixture.
log 'packages 2.0.0'
