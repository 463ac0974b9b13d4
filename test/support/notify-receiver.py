# A stand-in for systemd's notification socket (sd_notify(3)): binds a unix datagram socket at
# argv[1], prints "LISTENING" and then each datagram received, one JSON string a line. File
# descriptors passed with a message (systemd-notify's BARRIER=1 pipe) are closed at once, as the
# service manager does, so that the sender's wait for the manager ends.
import array, json, os, socket, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("LISTENING"), flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
