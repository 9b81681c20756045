# packages 1.2.0: the default recipe of a larder test fixture.
log 'packages 1.2.0'
