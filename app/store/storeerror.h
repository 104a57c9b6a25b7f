#pragma once

#include <QString>

// Why a store call did not give a result. `Unavailable` means the database is
// unreachable (the caller answers 503 or retries); `Conflict` that a row with the
// same key was written first (by another engine, or a lease was lost); `Invalid`
// that the database refused what was written (a constraint, a trigger, text it
// cannot keep). The message never reaches an API client verbatim (it may contain SQL).
struct StoreError {
    enum Kind { None, Unavailable, NotFound, Conflict, Invalid };
    Kind kind = None;
    QString message;
    bool ok() const { return kind == None; }
    explicit operator bool() const { return kind != None; } // true when there is an error
};

template<typename T>
struct StoreResult {
    T value{};
    StoreError error;
    bool ok() const { return error.ok(); }
};
