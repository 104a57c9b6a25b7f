#include "sqlitestatements.h"

#include "sqlerror.h"
#include "storetext.h"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QVariant>

#include <sqlite3.h>

SqliteStatements::~SqliteStatements()
{
    clear();
}

sqlite3 *SqliteStatements::handleOf(const QSqlDatabase &db)
{
    if (!db.isOpen() || !db.driver())
        return nullptr;
    const QVariant v = db.driver()->handle();
    if (v.isValid() && qstrcmp(v.typeName(), "sqlite3*") == 0)
        return *static_cast<sqlite3 *const *>(v.constData());
    return nullptr;
}

bool SqliteStatements::openedReadOnly(const QSqlDatabase &db)
{
    sqlite3 *handle = handleOf(db);
    return handle && sqlite3_db_readonly(handle, "main") == 1;
}

bool SqliteStatements::attach(const QSqlDatabase &db)
{
    sqlite3 *handle = handleOf(db);
    if (handle != m_db) {
        clear();
        m_db = handle;
    }
    return m_db != nullptr;
}

void SqliteStatements::clear()
{
    for (auto &[sql, s] : m_statements)
        sqlite3_finalize(s);
    m_statements.clear();
    for (auto &[key, s] : m_rowStatements)
        sqlite3_finalize(s);
    m_rowStatements.clear();
    m_db = nullptr;
}

StoreError SqliteStatements::prepared(const char *sql, const QString &what, sqlite3_stmt **out)
{
    if (!m_db)
        return StoreError::unavailable(what + QStringLiteral(": the database is not open"), StoreError::Outage::Unreachable);
    auto it = m_statements.find(sql);
    if (it != m_statements.end()) {
        *out = it->second;
        return {};
    }
    if (StoreError e = prepare(sql, what, out))
        return e;
    m_statements.emplace(sql, *out);
    return {};
}

StoreError SqliteStatements::preparedRows(const char *head, const char *row, const char *tail, int rows,
                                          const QString &what, sqlite3_stmt **out)
{
    if (!m_db)
        return StoreError::unavailable(what + QStringLiteral(": the database is not open"), StoreError::Outage::Unreachable);
    const std::pair<const char *, int> key{head, rows};
    auto it = m_rowStatements.find(key);
    if (it != m_rowStatements.end()) {
        *out = it->second;
        return {};
    }
    QByteArray sql(head);
    for (int i = 0; i < rows; ++i)
        sql.append(i > 0 ? ", " : "").append(row);
    sql.append(' ').append(tail);
    if (StoreError e = prepare(sql.constData(), what, out))
        return e;
    m_rowStatements.emplace(key, *out);
    return {};
}

StoreError SqliteStatements::prepare(const char *sql, const QString &what, sqlite3_stmt **out)
{
    sqlite3_stmt *s = nullptr;
    const int rc = sqlite3_prepare_v3(m_db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(s);
        return error(rc, what);
    }
    *out = s;
    return {};
}

StoreError SqliteStatements::step(sqlite3_stmt *s, int bindError, const QString &what, int *changes,
                                  std::initializer_list<qint64 *> row)
{
    int rc = bindError == SQLITE_OK ? sqlite3_step(s) : bindError;
    StoreError e;
    if (row.size() > 0 && rc == SQLITE_ROW) {
        int column = 0;
        for (qint64 *value : row)
            *value = sqlite3_column_int64(s, column++);
        // Run to the end, so the statement's changes are complete.
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) { }
    } else if (row.size() > 0 && rc == SQLITE_DONE) {
        e = StoreError{StoreError::Invalid, what + QStringLiteral(": no row")};
    }
    if (!e && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = error(rc, what);
    if (changes)
        *changes = e ? 0 : sqlite3_changes(m_db);
    // No sqlite3_clear_bindings(): the next run binds every placeholder again.
    sqlite3_reset(s);
    return e;
}

bool SqliteStatements::rowTaken(int code)
{
    // A bare SQLITE_CONSTRAINT (no extended code known) is read as the common case.
    return code == SQLITE_CONSTRAINT || code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE
        || code == SQLITE_CONSTRAINT_ROWID;
}

int SqliteStatements::lastPrimaryError() const
{
    return m_db ? sqlite3_errcode(m_db) & 0xff : SQLITE_OK;
}

StoreError SqliteStatements::error(int code, const QString &what) const
{
    StoreError e;
    const int primary = code & 0xff;
    const int extended = m_db ? sqlite3_extended_errcode(m_db) : code;
    // The connection's extended code, when it is about this failure.
    const int exact = (extended & 0xff) == primary ? extended : code;
    e.message = what + QStringLiteral(": ") + QString::fromUtf8(m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(code));
    const char *file = m_db ? sqlite3_db_filename(m_db, "main") : nullptr;
    if (const StoreError::Outage outage = sqliteOutage(exact, file ? QString::fromUtf8(file) : QString());
        outage != StoreError::Outage::Unknown) {
        e.kind = StoreError::Unavailable;
        e.outage = outage;
    } else if (rowTaken(extended)) {
        e.kind = StoreError::Conflict;
    } else {
        e.kind = StoreError::Invalid; // including CHECK, NOT NULL, foreign key and trigger refusals
    }
    return e;
}

void SqliteStatements::Binder::check(int rc)
{
    if (rc != SQLITE_OK && m_error == SQLITE_OK)
        m_error = rc;
}

QByteArray &SqliteStatements::Binder::nextText()
{
    if (m_usedTexts == int(m_texts->size()))
        m_texts->emplace_back();
    return (*m_texts)[size_t(m_usedTexts++)];
}

SqliteStatements::Binder &SqliteStatements::Binder::text(const QString &value)
{
    if (value.isNull())
        return null();
    // Encoded into a buffer that keeps its capacity between runs.
    QByteArray &out = nextText();
    out.resize(StoreText::utf8Room(value.size()));
    out.truncate(StoreText::writeUtf8(out.data(), value) - out.constData());
    // SQLITE_STATIC: the buffer is not touched again until this statement ran.
    check(sqlite3_bind_text(m_stmt, m_next++, out.constData(), int(out.size()), SQLITE_STATIC));
    return *this;
}

SqliteStatements::Binder &SqliteStatements::Binder::utf8Kept(const QByteArray &value)
{
    if (value.isNull())
        return null();
    check(sqlite3_bind_text(m_stmt, m_next++, value.constData(), int(value.size()), SQLITE_STATIC));
    return *this;
}

SqliteStatements::Binder &SqliteStatements::Binder::integer(qint64 value)
{
    check(sqlite3_bind_int64(m_stmt, m_next++, value));
    return *this;
}

SqliteStatements::Binder &SqliteStatements::Binder::integer(const std::optional<qint64> &value)
{
    return value ? integer(*value) : null();
}

SqliteStatements::Binder &SqliteStatements::Binder::null()
{
    check(sqlite3_bind_null(m_stmt, m_next++));
    return *this;
}
