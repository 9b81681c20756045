# app 1.0.0: the default recipe of a larder test fixture.
log 'app 1.0.0'
