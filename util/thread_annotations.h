// Lock contracts the compiler checks: clang's -Wthread-safety reads these
// attributes (a member GUARDED_BY a mutex is only touched with it held, a
// function that REQUIRES one is only called with it held); g++ ignores them.
// The mutexes in util/mutex.h carry the capability attributes these refer to.
// CI builds the product with clang and -Werror=thread-safety (.ci/lint).
#pragma once

#if defined(__clang__)
#define RELATE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define RELATE_THREAD_ANNOTATION(x)
#endif

#define RELATE_CAPABILITY(x) RELATE_THREAD_ANNOTATION(capability(x))
#define RELATE_SCOPED_CAPABILITY RELATE_THREAD_ANNOTATION(scoped_lockable)
#define RELATE_GUARDED_BY(x) RELATE_THREAD_ANNOTATION(guarded_by(x))
#define RELATE_PT_GUARDED_BY(x) RELATE_THREAD_ANNOTATION(pt_guarded_by(x))
#define RELATE_ACQUIRED_BEFORE(...) RELATE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define RELATE_ACQUIRED_AFTER(...) RELATE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define RELATE_REQUIRES(...) RELATE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define RELATE_REQUIRES_SHARED(...) \
  RELATE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define RELATE_ACQUIRE(...) RELATE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELATE_ACQUIRE_SHARED(...) RELATE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELATE_RELEASE(...) RELATE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELATE_RELEASE_SHARED(...) RELATE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELATE_RELEASE_GENERIC(...) \
  RELATE_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define RELATE_TRY_ACQUIRE(...) RELATE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define RELATE_TRY_ACQUIRE_SHARED(...) \
  RELATE_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define RELATE_EXCLUDES(...) RELATE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RELATE_ASSERT_CAPABILITY(x) RELATE_THREAD_ANNOTATION(assert_capability(x))
#define RELATE_RETURN_CAPABILITY(x) RELATE_THREAD_ANNOTATION(lock_returned(x))
// For the few functions whose locking the analysis cannot follow; say why beside it.
#define RELATE_NO_THREAD_SAFETY_ANALYSIS RELATE_THREAD_ANNOTATION(no_thread_safety_analysis)
