# CPack: `cpack -G DEB` in the build tree makes a Debian package of what `cmake --install`
# puts in place (bin/mln-*, share/man/man1 and man5, the bash, zsh and fish completions).
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
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
include(CPack)
