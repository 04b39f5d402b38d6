# bench/gpu/sysroot.sh: sourced by the device-machine scripts (run.sh,
# amx.sh): that machine has no package registry, so the Debian build
# dependencies carried in .deps/ (list in run.sh) are unpacked into a
# private sysroot and the compiler, pkg-config and loader pointed at it.
root=/tmp/mx-sysroot
if ls .deps/*.deb >/dev/null 2>&1; then
  mkdir -p "$root"
  for d in .deps/*.deb; do dpkg -x "$d" "$root"; done
  # .so symlinks in -dev packages are absolute: repoint them into the sysroot
  find "$root" -type l -lname '/*' | while read -r l; do ln -sf "$root$(readlink "$l")" "$l"; done
  export PKG_CONFIG_SYSROOT_DIR=$root
  export PKG_CONFIG_PATH=$root/usr/lib/x86_64-linux-gnu/pkgconfig:$root/usr/lib/x86_64-linux-gnu/openblas-pthread/pkgconfig:$root/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$LD_LIBRARY_PATH
  export PATH=$root/usr/bin:$PATH
fi
