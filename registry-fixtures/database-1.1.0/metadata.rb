name 'database'
maintainer 'Larder Fixtures'
maintainer_email 'fixtures@larder.invalid'
license 'Apache-2.0'
description 'Installs a database server'
version IO.read(File.join(File.dirname(__FILE__), 'VERSION')).chomp
depends 'base', '~> 1.1'
supports 'ubuntu'
