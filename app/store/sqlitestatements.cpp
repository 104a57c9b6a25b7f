#include "sqlitestatements.h"

#include "storetext.h"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QVariant>

#include <sqlite3.h>

#include <cstring>

SqliteStatements::~SqliteStatements()
{
    clear();
}

bool SqliteStatements::attach(const QSqlDatabase &db)
{
    sqlite3 *handle = nullptr;
    if (db.isOpen() && db.driver()) {
        const QVariant v = db.driver()->handle();
        if (v.isValid() && qstrcmp(v.typeName(), "sqlite3*") == 0)
            handle = *static_cast<sqlite3 *const *>(v.constData());
    }
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
    m_db = nullptr;
}

StoreError SqliteStatements::prepared(const char *sql, const QString &what, sqlite3_stmt **out)
{
    if (!m_db)
        return StoreError{StoreError::Unavailable, what + QStringLiteral(": the database is not open")};
    auto it = m_statements.find(sql);
    if (it != m_statements.end()) {
        *out = it->second;
        return {};
    }
    sqlite3_stmt *s = nullptr;
    const int rc = sqlite3_prepare_v3(m_db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(s);
        return error(rc, what);
    }
    m_statements.emplace(sql, s);
    *out = s;
    return {};
}

StoreError SqliteStatements::step(sqlite3_stmt *s, int bindError, const QString &what, int *changes)
{
    int rc = bindError;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    StoreError e = rc == SQLITE_OK ? StoreError{} : error(rc, what);
    if (changes)
        *changes = rc == SQLITE_OK ? sqlite3_changes(m_db) : 0;
    // No sqlite3_clear_bindings(): the next run binds every placeholder again.
    sqlite3_reset(s);
    return e;
}

StoreError SqliteStatements::error(int code, const QString &what) const
{
    StoreError e;
    const int primary = code & 0xff;
    e.message = what + QStringLiteral(": ") + QString::fromUtf8(m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(code));
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN
        || primary == SQLITE_FULL)
        e.kind = StoreError::Unavailable;
    else if (primary == SQLITE_CONSTRAINT)
        e.kind = StoreError::Conflict;
    else
        e.kind = StoreError::Invalid;
    return e;
}

void SqliteStatements::Binder::check(int rc)
{
    if (rc != SQLITE_OK && m_error == SQLITE_OK)
        m_error = rc;
}

SqliteStatements::Binder &SqliteStatements::Binder::text(const QString &value)
{
    if (value.isNull())
        return null();
    if (m_usedTexts == kTextSlots) { // not expected: SQLite copies the value instead
        const QByteArray utf8 = value.toUtf8();
        check(sqlite3_bind_text(m_stmt, m_next++, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT));
        return *this;
    }
    // Encoded into a buffer that keeps its capacity between runs.
    QByteArray &out = m_texts[m_usedTexts++];
    out.resize(StoreText::utf8Room(value.size()));
    out.truncate(StoreText::writeUtf8(out.data(), value) - out.constData());
    // SQLITE_STATIC: the buffer is not touched again until this statement ran.
    check(sqlite3_bind_text(m_stmt, m_next++, out.constData(), int(out.size()), SQLITE_STATIC));
    return *this;
}

SqliteStatements::Binder &SqliteStatements::Binder::utf8(const QByteArray &value)
{
    if (value.isNull())
        return null();
    if (m_usedTexts == kTextSlots) {
        check(sqlite3_bind_text(m_stmt, m_next++, value.constData(), int(value.size()), SQLITE_TRANSIENT));
        return *this;
    }
    // Copied (the caller may pass a temporary), into a buffer that keeps its capacity.
    QByteArray &out = m_texts[m_usedTexts++];
    out.resize(value.size());
    std::memcpy(out.data(), value.constData(), size_t(value.size()));
    check(sqlite3_bind_text(m_stmt, m_next++, out.constData(), int(out.size()), SQLITE_STATIC));
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
