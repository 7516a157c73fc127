// Whether the client of an HTTP request is still there. cpp-httplib 0.11 (Debian bookworm's)
// neither exposes a request's socket nor says when its client hangs up, yet a generation that
// nobody waits for must stop and return its memory. The handler's connection is found among the
// process's descriptors by its addresses (the request carries both ends), and checked without
// reading from it. The descriptor stays valid while the handler runs: the server closes it only
// after the handler (and its content provider) returned.
#pragma once

#include <string>

namespace streamdit::server {

class PeerConnection {
 public:
  // The socket whose local and peer addresses are the request's; an unknown connection (none
  // matches) is never reported closed.
  static PeerConnection Find(const std::string& local_addr, int local_port,
                             const std::string& remote_addr, int remote_port);

  bool found() const { return fd_ >= 0; }
  // True once the client closed its side or the connection broke (FIN, RST). Reads nothing: a
  // request the client pipelined behind this one stays in the socket.
  bool Closed() const;

 private:
  explicit PeerConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace streamdit::server
