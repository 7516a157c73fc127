// One worker thread per device: the tasks posted to a device run one after another on its thread,
// so a device runs one launch at a time and never blocks the scheduler's dispatcher (which only
// posts). The destructor finishes the queued tasks, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace streamdit::server {

class DeviceWorkers {
 public:
  explicit DeviceWorkers(int devices);
  ~DeviceWorkers();
  DeviceWorkers(const DeviceWorkers&) = delete;
  DeviceWorkers& operator=(const DeviceWorkers&) = delete;

  // Never blocks. `device` must be in [0, devices).
  void Post(int device, std::function<void()> task);

 private:
  struct Worker {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;
    bool stop = false;
    std::thread thread;
  };
  static void Loop(Worker& worker);

  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace streamdit::server
