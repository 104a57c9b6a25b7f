#pragma once

// Prepared statements on a QSQLITE connection's own sqlite3 handle
// (QSqlDriver::handle()), for the engine's batch commit: each statement is
// prepared once per connection and then only bound, stepped and reset. Building
// multi-row VALUES literals (QString, the driver's escaping, UTF-16 -> UTF-8,
// SQLite's parser) was most of the committer thread's time on SQLite.
//
// Use it in the thread that owns the connection. The statements must be
// finalized before the connection closes (SQLite refuses to close a handle with
// live statements): call clear() before QSqlDatabase::close(); a handle that
// changed underneath (the connection was reopened) is noticed and the old
// statements are dropped.

#include "storeerror.h"

#include <QByteArray>
#include <QString>
#include <optional>
#include <unordered_map>

class QSqlDatabase;
struct sqlite3;
struct sqlite3_stmt;

class SqliteStatements
{
public:
    SqliteStatements() = default;
    ~SqliteStatements();
    SqliteStatements(const SqliteStatements &) = delete;
    SqliteStatements &operator=(const SqliteStatements &) = delete;

    // Values for one execution of a statement, in placeholder order. Every
    // placeholder is bound on every run (nothing is left from the last one). Text
    // is bound as UTF-8 (the database's encoding, so SQLite converts nothing) from
    // buffers that live until the statement ran, so SQLite copies nothing either.
    class Binder
    {
    public:
        Binder &text(const QString &value);                  // null QString -> NULL
        Binder &utf8(const QByteArray &value);               // text already UTF-8; null -> NULL
        Binder &integer(qint64 value);
        Binder &integer(const std::optional<qint64> &value); // nullopt -> NULL
        Binder &null();

    private:
        friend class SqliteStatements;
        Binder(sqlite3_stmt *s, QByteArray *texts) : m_stmt(s), m_texts(texts) {}
        void check(int rc);
        sqlite3_stmt *m_stmt;
        QByteArray *m_texts; // kTextSlots buffers, reused from run to run
        int m_next = 1;
        int m_usedTexts = 0;
        int m_error = 0;
    };

    // Makes `db` (an open QSQLITE connection) the connection to use; false when it
    // has no sqlite3 handle.
    bool attach(const QSqlDatabase &db);
    // Finalizes every statement (before the connection is closed).
    void clear();

    // Runs `sql` (a string literal: cached by its address) with the values `bind`
    // supplies; *changes receives the rows it changed. Errors are classified like
    // SagaStore's (busy, locked, I/O, full: Unavailable; constraint: Conflict).
    template<typename Bind>
    StoreError run(const char *sql, const QString &what, Bind &&bind, int *changes = nullptr)
    {
        sqlite3_stmt *s = nullptr;
        if (StoreError e = prepared(sql, what, &s))
            return e;
        Binder b(s, m_texts);
        bind(b);
        return step(s, b.m_error, what, changes);
    }

private:
    StoreError prepared(const char *sql, const QString &what, sqlite3_stmt **out);
    StoreError step(sqlite3_stmt *s, int bindError, const QString &what, int *changes);
    StoreError error(int code, const QString &what) const;

    static constexpr int kTextSlots = 16; // more text values than any statement has
    QByteArray m_texts[kTextSlots];
    sqlite3 *m_db = nullptr;
    std::unordered_map<const char *, sqlite3_stmt *> m_statements;
};
