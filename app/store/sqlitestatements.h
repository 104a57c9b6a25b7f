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
#include <initializer_list>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

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
        // Text already UTF-8 that stays as it is until the statement ran: bound
        // where it is, not copied. null -> NULL
        Binder &utf8Kept(const QByteArray &value);
        Binder &integer(qint64 value);
        Binder &integer(const std::optional<qint64> &value); // nullopt -> NULL
        Binder &null();

    private:
        friend class SqliteStatements;
        Binder(sqlite3_stmt *s, std::vector<QByteArray> *texts) : m_stmt(s), m_texts(texts) {}
        void check(int rc);
        QByteArray &nextText();
        sqlite3_stmt *m_stmt;
        std::vector<QByteArray> *m_texts; // buffers reused from run to run (grown as needed, never shrunk)
        int m_next = 1;
        int m_usedTexts = 0;
        int m_error = 0;
    };

    // The sqlite3 handle of `db` (an open QSQLITE connection), or null.
    static sqlite3 *handleOf(const QSqlDatabase &db);
    // Whether SQLite opened `db`'s main database read-only: it does so, without an
    // error, when the file may not be written when the connection opens, and the
    // connection stays read-only after the file becomes writable.
    static bool openedReadOnly(const QSqlDatabase &db);
    // Makes `db` (an open QSQLITE connection) the connection to use; false when it
    // has no sqlite3 handle.
    bool attach(const QSqlDatabase &db);
    // Finalizes every statement (before the connection is closed).
    void clear();

    // Whether an (extended) SQLite result code says a key is already taken: the
    // row was written first by someone else (StoreError::Conflict).
    static bool rowTaken(int code);
    // The primary result code of the last failed call on the attached connection.
    int lastPrimaryError() const;

    // Runs `sql` (a string literal: cached by its address) with the values `bind`
    // supplies; *changes receives the rows it changed. Errors are classified like
    // SagaStore's (busy, locked, I/O, full: Unavailable; a key already taken:
    // Conflict; any other refusal, CHECK and trigger ones included: Invalid).
    template<typename Bind>
    StoreError run(const char *sql, const QString &what, Bind &&bind, int *changes = nullptr)
    {
        return runBound(sql, what, bind, changes, {});
    }

    // Like run(), for a statement that returns one row (RETURNING): its first
    // columns, as integers, go to `out`, in order. No row is an error (Invalid).
    template<typename Bind>
    StoreError runRow(const char *sql, const QString &what, Bind &&bind, std::initializer_list<qint64 *> out)
    {
        return runBound(sql, what, bind, nullptr, out);
    }

    // Inserts `rows` rows with multi-row statements of up to kMaxRows rows each
    // (a power of two):
    // `head` + `row` repeated + `tail`, e.g. "INSERT INTO t (a, b) VALUES ",
    // "(?, ?)", "" (string literals; the statement for each row count is prepared
    // once, cached by `head`'s address). bindRow(binder, i) binds row i. One
    // statement per chunk instead of one per row: SQLite opens the table's and
    // indexes' cursors, starts and halts the program once per statement.
    template<typename BindRow>
    StoreError insertRows(const char *head, const char *row, const char *tail, int rows, const QString &what,
                          BindRow &&bindRow)
    {
        for (int first = 0; first < rows;) {
            // Chunks of kMaxRows, then powers of two: few statements per kind to prepare and keep.
            int n = kMaxRows;
            while (n > rows - first)
                n /= 2;
            sqlite3_stmt *s = nullptr;
            if (StoreError e = preparedRows(head, row, tail, n, what, &s))
                return e;
            Binder b(s, &m_texts);
            for (int i = first; i < first + n; ++i)
                bindRow(b, i);
            if (StoreError e = step(s, b.m_error, what, nullptr, {}))
                return e;
            first += n;
        }
        return {};
    }
    static constexpr int kMaxRows = 64; // a power of two

private:
    StoreError prepared(const char *sql, const QString &what, sqlite3_stmt **out);
    StoreError preparedRows(const char *head, const char *row, const char *tail, int rows, const QString &what,
                            sqlite3_stmt **out);
    StoreError prepare(const char *sql, const QString &what, sqlite3_stmt **out);
    template<typename Bind>
    StoreError runBound(const char *sql, const QString &what, Bind &bind, int *changes,
                        std::initializer_list<qint64 *> row)
    {
        sqlite3_stmt *s = nullptr;
        if (StoreError e = prepared(sql, what, &s))
            return e;
        Binder b(s, &m_texts);
        bind(b);
        return step(s, b.m_error, what, changes, row);
    }
    // Runs the bound statement and resets it. With `row`, it reads the first
    // row's integer columns into it and runs the statement to its end.
    StoreError step(sqlite3_stmt *s, int bindError, const QString &what, int *changes,
                    std::initializer_list<qint64 *> row);
    StoreError error(int code, const QString &what) const;

    std::vector<QByteArray> m_texts;
    sqlite3 *m_db = nullptr;
    std::unordered_map<const char *, sqlite3_stmt *> m_statements;
    std::map<std::pair<const char *, int>, sqlite3_stmt *> m_rowStatements; // (head, row count)
};
