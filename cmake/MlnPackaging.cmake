# CPack: `cpack -G DEB` in the build tree makes a Debian package of what `cmake --install`
# puts in place (bin/mln-*, gzipped man pages in share/man/man1 and man5, the bash, zsh and
# fish completions, share/doc/mln/copyright and changelog.Debian.gz).
# Its Depends line is computed by dpkg-shlibdeps from the linked libraries (dpkg-dev),
# so it names exactly the Debian 12 packages the binaries load.
set(CPACK_PACKAGE_NAME mln)
set(CPACK_PACKAGE_VENDOR "mln")
set(CPACK_PACKAGE_CONTACT "mln maintainers <mln-maintainers@lists.example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Unix filters for ML model files over a framed tensor stream")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "mln-parse, mln-emit, mln-inspect, mln-compress, mln-verify and the other mln filters move "
    "GGUF, TFLite, ONNX and safetensors models through shell pipes as a checked, framed tensor "
    "stream: lossless round trips, per-frame compression, Ed25519 signatures and version "
    "policy, tensor-aware delta updates for edge devices.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libarchive is loaded with dlopen (formats/container.cc), which dpkg-shlibdeps cannot see.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libarchive13")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")

# What Debian policy (12.5, 12.7) asks of every binary package: a machine-readable copyright
# file and a changelog.Debian.gz in /usr/share/doc/PACKAGE. The changelog is one entry for
# this version, dated at configure time (SOURCE_DATE_EPOCH fixes the date when set).
include(GNUInstallDirs)
set(MLN_DOC_DIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_PACKAGE_NAME})
string(TIMESTAMP MLN_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in
               ${CMAKE_BINARY_DIR}/debian/changelog.Debian @ONLY)
find_program(MLN_GZIP gzip REQUIRED)
# -n: no name or timestamp in the gzip header, so the same input gives the same bytes.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
  COMMAND ${MLN_GZIP} -9nkf ${CMAKE_BINARY_DIR}/debian/changelog.Debian
  DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.Debian VERBATIM)
add_custom_target(mln_deb_docs ALL DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright
              ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
        DESTINATION ${MLN_DOC_DIR})
include(CPack)
