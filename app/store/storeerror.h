#pragma once

#include <QByteArray>
#include <QString>

// Why a store call did not give a result. `Unavailable` means the database is
// unreachable (the caller answers 503 or retries); `Conflict` that a row with the
// same key was written first (by another engine, or a lease was lost); `Invalid`
// that the database refused what was written (a constraint, a trigger, text it
// cannot keep). The message never reaches an API client verbatim (it may contain SQL).
struct StoreError {
    enum Kind { None, Unavailable, NotFound, Conflict, Invalid };
    // What kind of "not now" an Unavailable error is, for people (the console's
    // status line, saga-server's /api/health): the database cannot be reached or
    // opened; its SQLite file was deleted or replaced while in use; it takes no
    // writes (read-only: a standby, a disk remounted read-only); its disk is full;
    // another program holds its write lock; it is too busy (timeouts, too many
    // connections, conflicts between transactions); it reports an I/O error.
    // Unknown when the driver's answer says none of these.
    enum class Outage { Unknown, Unreachable, FileGone, ReadOnly, DiskFull, Locked, Busy, IoError, Damaged };
    Kind kind = None;
    QString message;
    // A write known to have left nothing behind: it failed before reaching the
    // database (not open, the SQLite file gone, a connection found closed before
    // sending), or the database answered it with an error and rolled it back. Not
    // set when the outcome is unknown: a connection cut while a commit was out.
    bool notWritten = false;
    Outage outage = Outage::Unknown; // set for Unavailable only
    // PostgreSQL's SQLSTATE when the server answered with one ("42501"); empty otherwise.
    QByteArray sqlState{};
    // Why, in words for people: the server's own sentence ("canceling statement due to
    // statement timeout"), without what was being done, the SQLSTATE, the severity or
    // the driver's text, which `message` (for logs) keeps. Empty when there is no
    // such sentence: `message` is all there is (reason() answers either).
    QString serverText{};
    QString reason() const { return serverText.isEmpty() ? message : serverText; }
    static StoreError unavailable(const QString &message, Outage outage)
    {
        StoreError e{Unavailable, message};
        e.outage = outage;
        return e;
    }
    bool ok() const { return kind == None; }
    explicit operator bool() const { return kind != None; } // true when there is an error
};

template<typename T>
struct StoreResult {
    T value{};
    StoreError error;
    bool ok() const { return error.ok(); }
};

// PostgreSQL errors that say "not now" rather than "not this": the same statement
// may succeed when tried again, so a writer treats them like a lost connection
// (pause, retry with backoff) instead of a refusal of what it wrote. SQLSTATE
// classes 08 (connection), 40 (transaction rolled back: serialization failure,
// deadlock), 53 (insufficient resources: disk full, out of memory, too many
// connections), 57 (operator intervention: a cancelled statement or timeout, a
// shutdown), 58 (system error: I/O), and 55P03 (lock not available) and 25006
// (read-only transaction: a standby after a failover, a read-only default).
inline bool isTransientSqlState(const QByteArray &state)
{
    if (state.size() != 5)
        return false;
    for (const char *cls : {"08", "40", "53", "57", "58"}) {
        if (state.startsWith(cls))
            return true;
    }
    return state == "55P03" || state == "25006";
}
