# legacy 1.0.0: the default recipe of a larder test fixture.
log 'legacy 1.0.0'
