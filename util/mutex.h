// Mutexes whose locking clang's -Wthread-safety can follow (libstdc++'s carry
// no capability attributes), and the scoped locks to take them with. Thin:
// each is the std:: type underneath.
//   util::Mutex mu;            util::MutexLock lock(&mu);
//   util::SharedMutex smu;     util::SharedLock r(&smu);  util::ExclusiveLock w(&smu);
// Members they guard are marked RELATE_GUARDED_BY(mu); functions that need one
// held, RELATE_REQUIRES(mu) (util/thread_annotations.h).
#pragma once

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "util/thread_annotations.h"

namespace relate::util {

class RELATE_CAPABILITY("mutex") Mutex {
 public:
  void lock() RELATE_ACQUIRE() { mu_.lock(); }
  void unlock() RELATE_RELEASE() { mu_.unlock(); }
  bool try_lock() RELATE_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the caller holds it (for code reached through a callback).
  void AssertHeld() const RELATE_ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

class RELATE_CAPABILITY("mutex") SharedMutex {
 public:
  void lock() RELATE_ACQUIRE() { mu_.lock(); }
  void unlock() RELATE_RELEASE() { mu_.unlock(); }
  void lock_shared() RELATE_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELATE_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds `mu` (a Mutex, a SharedMutex or another type whose lock() and unlock()
// carry the attributes) exclusively for its scope; Unlock() and Lock() release and take it
// again within the scope (the destructor releases it only if held).
template <typename M>
class RELATE_SCOPED_CAPABILITY BasicExclusiveLock {
 public:
  explicit BasicExclusiveLock(M* mu) RELATE_ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~BasicExclusiveLock() RELATE_RELEASE() {
    if (held_) mu_->unlock();
  }
  BasicExclusiveLock(const BasicExclusiveLock&) = delete;
  BasicExclusiveLock& operator=(const BasicExclusiveLock&) = delete;

  void Unlock() RELATE_RELEASE() {
    mu_->unlock();
    held_ = false;
  }
  void Lock() RELATE_ACQUIRE() {
    mu_->lock();
    held_ = true;
  }
  // For std::condition_variable_any, which unlocks and relocks while it waits.
  void lock() RELATE_ACQUIRE() { Lock(); }
  void unlock() RELATE_RELEASE() { Unlock(); }

 private:
  M* mu_;
  bool held_ = true;
};

using MutexLock = BasicExclusiveLock<Mutex>;

using ExclusiveLock = BasicExclusiveLock<SharedMutex>;

// Holds `mu` shared for its scope.
template <typename M>
class RELATE_SCOPED_CAPABILITY BasicSharedLock {
 public:
  explicit BasicSharedLock(M* mu) RELATE_ACQUIRE_SHARED(mu) : mu_(mu) { mu_->lock_shared(); }
  ~BasicSharedLock() RELATE_RELEASE() { mu_->unlock_shared(); }
  BasicSharedLock(const BasicSharedLock&) = delete;
  BasicSharedLock& operator=(const BasicSharedLock&) = delete;

 private:
  M* mu_;
};

using SharedLock = BasicSharedLock<SharedMutex>;

// Waits on a MutexLock (std::condition_variable needs std::unique_lock<std::mutex>).
using CondVar = std::condition_variable_any;

}  // namespace relate::util
