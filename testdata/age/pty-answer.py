# Runs a command on a pseudo-terminal and answers every passphrase prompt with argv[1]
# (after a pause, so the program has turned echo off). Used by sops-cli/tests/age_complete.rs.
# usage: python3 pty-answer.py PASSPHRASE cmd args...
import os, pty, sys, select
pw = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
buf = b""
while True:
    try:
        r, _, _ = select.select([fd], [], [], 60)
        if not r: break
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data: break
    sys.stderr.buffer.write(data); sys.stderr.flush()
    buf += data
    if b"assphrase" in buf.split(b"\n")[-1] or buf.rstrip().endswith(b":"):
        import time; time.sleep(0.5)
        os.write(fd, pw + b"\n"); buf = b""
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
