# A Debian package (CPack DEB): `cpack -G DEB` in the build folder writes
# actoken_<version>_<arch>.deb. It installs under /usr, whatever
# CMAKE_INSTALL_PREFIX was at configure time: the units are configured at
# install time (systemd/CMakeLists.txt), so ExecStart= follows.

set(CPACK_GENERATOR "DEB" CACHE STRING "CPack generators to run by default")
set(CPACK_PACKAGE_NAME "actoken")
set(CPACK_PACKAGE_VENDOR "actoken")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "actoken maintainers <actoken@localhost>")
# The system unit dir is absolute (/lib/systemd/system): stage everything
# through DESTDIR so it lands in the package, never on the build machine. With
# DESTDIR, CPACK_INSTALL_PREFIX is the prefix the install runs with.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME "actoken")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
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
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")

# Library dependencies from dpkg-shlibdeps (dpkg-dev) when it is there; else
# what Debian 12 ships the libraries we link in.
find_program(ACTOKEN_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(ACTOKEN_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libssl3 (>= 3.0.0)")
endif()

# Maintainer scripts: user and folders, enable actokend.socket; stop/disable on removal.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/systemd/debian/postinst"
  "${PROJECT_SOURCE_DIR}/systemd/debian/prerm"
  "${PROJECT_SOURCE_DIR}/systemd/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
