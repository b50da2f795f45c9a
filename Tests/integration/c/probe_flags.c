/* Open flags: O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_DIRECT, O_CREAT|O_EXCL, trailing slashes. */
#include "probe.h"

void probe_flags(void) {
    R("write file", probe_write_file("file", "content"));
    R("mkdir dir", mkdir("dir", 0755));
    R("symlink link", symlink("file", "link"));
    R("symlink dlink", symlink("dir", "dlink"));
    R("symlink dangling", symlink("nowhere", "dangling"));
    struct stat st;

    probe_close(RFD("O_DIRECTORY on a file", open("file", O_RDONLY | O_DIRECTORY)));
    probe_close(RFD("O_DIRECTORY on a dir", open("dir", O_RDONLY | O_DIRECTORY)));
    probe_close(RFD("O_DIRECTORY on a dir link", open("dlink", O_RDONLY | O_DIRECTORY)));
    probe_close(RFD("O_DIRECTORY|O_CREAT new", open("newdir", O_RDONLY | O_DIRECTORY | O_CREAT, 0644)));
    R("O_DIRECTORY|O_CREAT left nothing", access("newdir", F_OK));
    probe_close(RFD("O_WRONLY on a dir", open("dir", O_WRONLY)));
    probe_close(RFD("O_NOFOLLOW on a symlink", open("link", O_RDONLY | O_NOFOLLOW)));
    probe_close(RFD("O_NOFOLLOW on a dangling symlink", open("dangling", O_RDONLY | O_NOFOLLOW)));
    probe_close(RFD("O_NOFOLLOW|O_CREAT on a symlink", open("link", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644)));
    probe_close(RFD("O_NOFOLLOW on a file", open("file", O_RDONLY | O_NOFOLLOW)));
    probe_close(RFD("O_NOFOLLOW in the middle", open("dlink/x", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644)));
    int fd = RFD("O_NOFOLLOW|O_PATH on a symlink", open("link", O_PATH | O_NOFOLLOW));
    if (fd >= 0) {
        R("fstat of the O_PATH symlink fd", fstat(fd, &st));
        probe_line("  its type", "%s", S_ISLNK(st.st_mode) ? "symlink" : "other");
        close(fd);
    }
    fd = RFD("O_NOATIME read", open("file", O_RDONLY | O_NOATIME));
    probe_line("  read", "%s", probe_read_fd(fd));
    probe_close(fd);
    probe_close(RFD("O_NOATIME write", open("file", O_WRONLY | O_NOATIME)));
    fd = RFD("O_DIRECT read", open("file", O_RDONLY | O_DIRECT));
    probe_close(fd);
    fd = RFD("O_DIRECT write", open("direct", O_WRONLY | O_CREAT | O_DIRECT, 0644));
    probe_close(fd);
    probe_close(RFD("O_SYNC|O_DSYNC write", open("file", O_WRONLY | O_SYNC | O_DSYNC)));
    probe_close(RFD("O_ACCMODE (3)", open("file", O_ACCMODE)));

    probe_close(RFD("O_CREAT|O_EXCL on existing", open("file", O_WRONLY | O_CREAT | O_EXCL, 0644)));
    probe_close(RFD("O_CREAT|O_EXCL on a dir", open("dir", O_WRONLY | O_CREAT | O_EXCL, 0644)));
    probe_close(RFD("O_CREAT|O_EXCL on a symlink", open("link", O_WRONLY | O_CREAT | O_EXCL, 0644)));
    probe_close(RFD("O_CREAT|O_EXCL on a dangling symlink", open("dangling", O_WRONLY | O_CREAT | O_EXCL, 0644)));
    R("dangling target still missing", access("nowhere", F_OK));
    probe_close(RFD("O_CREAT through a dangling symlink", open("dangling", O_WRONLY | O_CREAT, 0600)));
    R("dangling target created", access("nowhere", F_OK));
    probe_close(RFD("O_CREAT on a dir", open("dir", O_WRONLY | O_CREAT, 0644)));
    probe_close(RFD("O_CREAT|O_RDONLY on a dir", open("dir", O_RDONLY | O_CREAT, 0644)));

    probe_close(RFD("open file/", open("file/", O_RDONLY)));
    R("stat file/", stat("file/", &st));
    R("lstat link/", lstat("link/", &st));
    R("stat dlink/", stat("dlink/", &st));
    probe_close(RFD("O_CREAT new/", open("new/", O_WRONLY | O_CREAT, 0644)));
    R("new/ left nothing", access("new", F_OK));
    R("mkdir newdir/", mkdir("newdir/", 0755));
    R("rmdir newdir/", rmdir("newdir/"));
    R("unlink file/", unlink("file/"));
    R("rename file/ x", rename("file/", "x"));
    R("rename file x/", rename("file", "x/"));
    R("symlink to new/", symlink("file", "sl/"));
    probe_close(RFD("open missing/x", open("missing/x", O_RDONLY)));
    probe_close(RFD("open file/x", open("file/x", O_RDONLY)));
    probe_close(RFD("creat file/x", creat("file/x", 0644)));
    probe_close(RFD("open empty path", open("", O_RDONLY)));
}
