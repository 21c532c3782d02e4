# A Debian package (CPack DEB): `cpack -G DEB` in the build folder writes
# actoken_<version>_<arch>.deb. It installs under /usr, whatever
# CMAKE_INSTALL_PREFIX was at configure time: the units and their folders are
# chosen at install time (systemd/CMakeLists.txt), so they follow.
#
# The package passes lintian without errors or warnings (tests/packaging/
# test_package.sh): copyright and changelog, man pages, maintainer scripts in
# debhelper's form, dependencies from dpkg-shlibdeps.
#
#   -DACTOKEN_PACKAGE_MAINTAINER="Jane Doe <jane@example.com>"
# names whoever distributes the package (the Maintainer field). The default is a
# placeholder address in a domain reserved for examples (RFC 2606).

set(ACTOKEN_PACKAGE_MAINTAINER "actoken developers <actoken@example.org>" CACHE STRING
  "Maintainer of the Debian package: \"Name <address>\"")

set(CPACK_GENERATOR "DEB" CACHE STRING "CPack generators to run by default")
set(CPACK_PACKAGE_NAME "actoken")
set(CPACK_PACKAGE_VENDOR "actoken")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${ACTOKEN_PACKAGE_MAINTAINER}")
# Some install rules choose absolute folders at install time (the system units
# in /lib/systemd/system): stage everything through DESTDIR so it lands in the
# package, never on the build machine. With DESTDIR, CPACK_INSTALL_PREFIX is
# the prefix the install runs with.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
# Folders 0755 whatever the umask of whoever builds.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_NAME "actoken")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ACTOKEN_PACKAGE_MAINTAINER}")
# CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY first and indents the rest.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "actokend holds Appcircle Personal Access Keys, exchanges them for short-lived
access tokens at Appcircle's auth server, caches each token until shortly
before it expires, and serves tokens to local programs over a Unix socket
(HTTP/1.1), with per-organization access control from peer credentials.
actoken is its command-line client.

The system daemon runs as the user actoken, started on demand by
actokend.socket; user units for a per-user daemon are included.")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://appcircle.io")

# Library dependencies as dpkg-shlibdeps (dpkg-dev) finds them, merged with
# what the maintainer scripts need: systemd-sysusers makes the user actoken,
# with the same alternatives debhelper's dh_installsysusers depends on.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers | systemd-sysusers")

# Maintainer scripts (systemd/debian): the user and its folders, actokend.socket
# enabled; stopped on removal; config, keys and cache removed on purge.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/systemd/debian/postinst"
  "${PROJECT_SOURCE_DIR}/systemd/debian/prerm"
  "${PROJECT_SOURCE_DIR}/systemd/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# The Debian changelog and copyright, in /usr/share/doc/actoken (lintian wants
# both; a package without a Debian revision is native: changelog.gz). The
# changelog's newest entry must be this version (test_package checks it).
set(_changelog_gz "${PROJECT_BINARY_DIR}/debian/changelog.gz")
add_custom_command(
  OUTPUT "${_changelog_gz}"
  COMMAND "${CMAKE_COMMAND}" -E make_directory "${PROJECT_BINARY_DIR}/debian"
  COMMAND sh -c "gzip -9n -c \"$0\" >\"$1\""
    "${PROJECT_SOURCE_DIR}/systemd/debian/changelog" "${_changelog_gz}"
  DEPENDS "${PROJECT_SOURCE_DIR}/systemd/debian/changelog"
  COMMENT "Compressing the Debian changelog"
  VERBATIM)
add_custom_target(debian_changelog ALL DEPENDS "${_changelog_gz}")
install(FILES "${_changelog_gz}" "${PROJECT_SOURCE_DIR}/systemd/debian/copyright"
  DESTINATION "${CMAKE_INSTALL_DOCDIR}")

include(CPack)
