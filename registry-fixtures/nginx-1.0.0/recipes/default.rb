# nginx 1.0.0: the default recipe of a larder test fixture.
log 'nginx 1.0.0'
