# nginx 2.0.0: the default recipe of a larder test fixture.
log 'nginx 2.0.0'
