/* Namespace errors: rmdir, rename, renameat2, unlink, link, mkdir. */
#include "probe.h"
#include <linux/fs.h>
#include <stdio.h>

void probe_ns(void) {
    R("mkdir a", mkdir("a", 0755));
    R("mkdir a/b", mkdir("a/b", 0755));
    R("mkdir e", mkdir("e", 0755));
    R("write f", probe_write_file("f", "F"));
    R("write g", probe_write_file("g", "G"));

    R("rmdir non-empty", rmdir("a"));
    R("rmdir a file", rmdir("f"));
    R("rmdir .", rmdir("e/."));
    R("rmdir ..", rmdir("e/.."));
    R("rmdir missing", rmdir("zz"));
    R("unlink a dir", unlink("a"));
    R("unlinkat AT_REMOVEDIR a file", unlinkat(AT_FDCWD, "f", AT_REMOVEDIR));
    R("unlinkat bad flag", unlinkat(AT_FDCWD, "f", 0x1));
    R("link to a dir", link("a", "alink"));
    R("link to missing", link("zz", "zlink"));
    R("link onto existing", link("f", "g"));
    R("link into missing dir", link("f", "zz/f"));
    R("mkdir existing dir", mkdir("a", 0755));
    R("mkdir existing file", mkdir("f", 0755));
    R("mkdir in missing dir", mkdir("zz/y", 0755));
    R("mkdir in a file", mkdir("f/y", 0755));

    R("rename dir into own subdir", rename("a", "a/b/c"));
    R("rename dir onto own subdir", rename("a", "a/b"));
    R("rename dir onto itself", rename("a", "a"));
    R("rename file over dir", rename("f", "e"));
    R("rename dir over file", rename("e", "f"));
    R("rename dir over non-empty dir", rename("e", "a"));
    R("rename dir over empty dir", rename("a", "e"));
    R("rename back", rename("e", "a"));
    R("mkdir e again", mkdir("e", 0755));
    R("rename missing", rename("zz", "yy"));
    R("rename . away", rename(".", "dotgone"));
    R("rename to ..", rename("f", "a/.."));
    R("rename file over itself via link", link("f", "fl"));
    R("rename hard links of one file", rename("f", "fl"));
    probe_line("  both names remain", "%s %s", probe_read_file("f"), probe_read_file("fl"));

    R("RENAME_NOREPLACE on existing", renameat2(AT_FDCWD, "f", AT_FDCWD, "g", RENAME_NOREPLACE));
    R("RENAME_NOREPLACE to new", renameat2(AT_FDCWD, "fl", AT_FDCWD, "h", RENAME_NOREPLACE));
    R("RENAME_EXCHANGE files", renameat2(AT_FDCWD, "f", AT_FDCWD, "g", RENAME_EXCHANGE));
    probe_line("  after exchange", "f=%s g=%s", probe_read_file("f"), probe_read_file("g"));
    R("RENAME_EXCHANGE file and dir", renameat2(AT_FDCWD, "f", AT_FDCWD, "e", RENAME_EXCHANGE));
    struct stat st;
    R("  e is now", stat("e", &st) == 0 && S_ISREG(st.st_mode));
    R("RENAME_EXCHANGE back", renameat2(AT_FDCWD, "f", AT_FDCWD, "e", RENAME_EXCHANGE));
    R("RENAME_EXCHANGE with missing", renameat2(AT_FDCWD, "f", AT_FDCWD, "zz", RENAME_EXCHANGE));
    R("RENAME_EXCHANGE|NOREPLACE", renameat2(AT_FDCWD, "f", AT_FDCWD, "g", RENAME_EXCHANGE | RENAME_NOREPLACE));
    R("RENAME_EXCHANGE into own subdir", renameat2(AT_FDCWD, "a", AT_FDCWD, "a/b", RENAME_EXCHANGE));
    R("renameat2 unknown flag", renameat2(AT_FDCWD, "f", AT_FDCWD, "g", 1u << 10));
}
