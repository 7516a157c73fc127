#include "server/http/peer_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace streamdit::server {
namespace {

// The address and port of a socket end as httplib reports them (inet_ntop's text).
bool EndOf(const sockaddr_storage& address, std::string* host, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    if (!inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text))) return false;
    *port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    if (!inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text))) return false;
    *port = ntohs(v6.sin6_port);
  } else {
    return false;
  }
  *host = text;
  return true;
}

bool Matches(int fd, const std::string& local_addr, int local_port, const std::string& remote_addr,
             int remote_port) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  std::string host;
  int port = 0;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  if (!EndOf(address, &host, &port) || port != remote_port || host != remote_addr) return false;
  length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  return EndOf(address, &host, &port) && port == local_port && host == local_addr;
}

}  // namespace

PeerConnection PeerConnection::Find(const std::string& local_addr, int local_port,
                                    const std::string& remote_addr, int remote_port) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    char* end = nullptr;
    const std::string name = entry.path().filename().string();
    const long fd = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') continue;
    if (Matches(static_cast<int>(fd), local_addr, local_port, remote_addr, remote_port)) {
      return PeerConnection(static_cast<int>(fd));
    }
  }
  return PeerConnection(-1);
}

bool PeerConnection::Closed() const {
  if (fd_ < 0) return false;
  pollfd watched{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&watched, 1, 0) <= 0) return false;
  if (watched.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (watched.revents & POLLIN) {
    char byte = 0;
    // 0 bytes readable with POLLIN set: the orderly end of the stream.
    return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

}  // namespace streamdit::server
