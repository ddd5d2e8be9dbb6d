# Run by `cmake --install` (install(SCRIPT)): writes strongroom@.service with
# the binary's installed path, and links sbin/mount.strongroom to the
# binary. At install time, so that `cmake --install BUILD --prefix DIR`
# gets paths under DIR. Expects SR_TEMPLATE, SR_BINDIR, SR_SBINDIR and
# SR_UNITDIR (relative to the prefix, or absolute).
foreach(var SR_BINDIR SR_SBINDIR SR_UNITDIR)
  if(IS_ABSOLUTE "${${var}}")
    set(${var}_FULL "${${var}}")
  else()
    set(${var}_FULL "${CMAKE_INSTALL_PREFIX}/${${var}}")
  endif()
endforeach()

file(READ "${SR_TEMPLATE}" unit)
string(REPLACE "@bindir@" "${SR_BINDIR_FULL}" unit "${unit}")
set(unit_file "$ENV{DESTDIR}${SR_UNITDIR_FULL}/strongroom@.service")
message(STATUS "Installing: ${unit_file}")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${SR_UNITDIR_FULL}")
file(WRITE "${unit_file}" "${unit}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${unit_file}")

# mount(8) runs /sbin/mount.TYPE; the binary knows the name it is called by.
file(RELATIVE_PATH target "${SR_SBINDIR_FULL}" "${SR_BINDIR_FULL}/strongroom")
set(helper "$ENV{DESTDIR}${SR_SBINDIR_FULL}/mount.strongroom")
message(STATUS "Installing: ${helper} -> ${target}")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${SR_SBINDIR_FULL}")
file(REMOVE "${helper}")
file(CREATE_LINK "${target}" "${helper}" SYMBOLIC)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${helper}")
