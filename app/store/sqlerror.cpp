#include "sqlerror.h"
#include "sqlitestatements.h"

#include <QFileInfo>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QStorageInfo>
#include <QStringList>

#include <unistd.h>

bool sqliteUnavailable(int code)
{
    return sqliteOutage(code) != StoreError::Outage::Unknown;
}

StoreError::Outage sqliteOutage(int code)
{
    using O = StoreError::Outage;
    if (code == 1032 /*READONLY_DBMOVED: the file was deleted or renamed while open*/)
        return O::FileGone;
    switch (code & 0xff) {
    case 5: /*BUSY*/
    case 6: /*LOCKED*/ return O::Locked;
    case 8: /*READONLY*/ return O::ReadOnly;
    case 10: /*IOERR*/ return O::IoError;
    case 11: /*CORRUPT*/
    case 26: /*NOTADB: of a connection that read the file before, its first page overwritten*/ return O::Damaged;
    case 13: /*FULL*/ return O::DiskFull;
    case 14: /*CANTOPEN*/ return O::Unreachable;
    default: return O::Unknown;
    }
}

StoreError::Outage sqliteOutage(int code, const QString &databaseFile)
{
    const StoreError::Outage outage = sqliteOutage(code);
    if (outage != StoreError::Outage::IoError || databaseFile.isEmpty())
        return outage;
    constexpr qint64 kAlmostNoRoom = 1 << 20; // SQLite grows its files by pages and its WAL index by 32 KiB
    const QStorageInfo disk(QFileInfo(databaseFile).absolutePath());
    // (Root may write into the reserved blocks, others only into the available ones.)
    const qint64 room = ::geteuid() == 0 ? disk.bytesFree() : disk.bytesAvailable();
    return disk.isValid() && room >= 0 && room < kAlmostNoRoom ? StoreError::Outage::DiskFull : outage;
}

StoreError::Outage postgresOutage(const QByteArray &state, bool connectionBad)
{
    using O = StoreError::Outage;
    if (connectionBad || state.startsWith("08") || state == "57P01" /*admin shutdown*/
        || state == "57P02" /*crash shutdown*/ || state == "57P03" /*cannot connect now: starting up*/)
        return O::Unreachable;
    if (state == "25006")
        return O::ReadOnly;
    if (state == "53100")
        return O::DiskFull;
    if (state == "55P03")
        return O::Locked;
    if (state.startsWith("58"))
        return O::IoError;
    if (isTransientSqlState(state)) // 40 (conflicts), 53 (memory, connections), 57014 (a timeout)
        return O::Busy;
    return O::Unknown;
}

QString outageCode(StoreError::Outage outage)
{
    using O = StoreError::Outage;
    switch (outage) {
    case O::Unreachable: return QStringLiteral("UNREACHABLE");
    case O::FileGone: return QStringLiteral("FILE_GONE");
    case O::ReadOnly: return QStringLiteral("READ_ONLY");
    case O::DiskFull: return QStringLiteral("DISK_FULL");
    case O::Locked: return QStringLiteral("LOCKED");
    case O::Busy: return QStringLiteral("BUSY");
    case O::IoError: return QStringLiteral("IO_ERROR");
    case O::Damaged: return QStringLiteral("DAMAGED");
    case O::Unknown: break;
    }
    return QStringLiteral("UNKNOWN");
}

QString sqlErrorText(const QSqlError &error)
{
    QStringList kept;
    const QStringList lines = error.databaseText().split(QLatin1Char('\n'));
    for (const QString &line : lines) {
        const QString t = line.trimmed();
        if (t.isEmpty())
            continue;
        // A report's trailing lines quote SQL: what follows CONTEXT/QUERY/STATEMENT
        // is all of that kind (QPSQL appends "(SQLSTATE)" to the very end, kept below).
        if (t.startsWith(QLatin1String("CONTEXT:")) || t.startsWith(QLatin1String("QUERY:"))
            || t.startsWith(QLatin1String("STATEMENT:")))
            break;
        if (t.startsWith(QLatin1String("LINE ")) || t.startsWith(QLatin1Char('^')))
            continue;
        kept.append(t.simplified());
    }
    QString text = kept.join(QLatin1Char(' '));
    // QPSQL ends the server's report with "(SQLSTATE)"; keep the code when the cut dropped it.
    const QString code = error.nativeErrorCode();
    const QString tail = QLatin1Char('(') + code + QLatin1Char(')');
    if (!code.isEmpty() && error.databaseText().trimmed().endsWith(tail) && !text.endsWith(tail))
        text += QLatin1Char(' ') + tail;
    const QString driver = error.driverText().trimmed();
    if (!driver.isEmpty())
        text = text.isEmpty() ? driver : text + QLatin1Char(' ') + driver;
    return text;
}

QString serverSentence(const QSqlError &error)
{
    // QPSQL: "ERROR:  <primary message>\n[DETAIL:  ...\n][LINE 1: ...\n](SQLSTATE)"; a
    // connection that failed: libpq's lines, the first one saying why.
    static const QRegularExpression severity(QStringLiteral("^[A-Z]+:\\s+"));
    static const QRegularExpression sqlState(QStringLiteral("\\s*\\([0-9A-Z]{5}\\)$"));
    const QStringList lines = error.databaseText().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    for (const QString &line : lines) {
        QString t = line.trimmed();
        t.remove(severity);
        t.remove(sqlState);
        if (!t.isEmpty())
            return t.simplified();
    }
    return {};
}

StoreError sqlFailure(const QSqlDatabase &db, const QSqlError &e, const QString &what)
{
    StoreError err;
    err.message = what + QStringLiteral(": ") + sqlErrorText(e);
    const bool pg = db.driverName() == QLatin1String("QPSQL");
    const QString code = e.nativeErrorCode();
    err.serverText = serverSentence(e);
    if (pg)
        err.sqlState = code.toLatin1();
    const QString text = e.text().toLower();
    // (QSQLITE reports statement failures as ConnectionError: only trust it for QPSQL.)
    const bool connectionLost = (pg && e.type() == QSqlError::ConnectionError) || !db.isOpen()
        || (pg && isTransientSqlState(code.toLatin1()))
        || text.contains(QLatin1String("server closed the connection"))
        || text.contains(QLatin1String("no connection to the server"))
        || text.contains(QLatin1String("terminating connection"))
        || text.contains(QLatin1String("could not connect"))
        || text.contains(QLatin1String("connection to server"))
        || text.contains(QLatin1String("could not send data"))
        || text.contains(QLatin1String("unable to begin transaction"));
    const int sqliteCode = pg ? 0 : code.toInt();
    if ((sqliteCode & 0xff) == 26 /*NOTADB*/) {
        // Said plainly: the file is someone else's, and nothing was written to it.
        err.kind = StoreError::Invalid;
        err.message = QStringLiteral("the file is not a SQLite database (it may be damaged or encrypted)");
        err.serverText.clear(); // (the sentence above is the one for people)
        return err;
    }
    if (connectionLost || (!pg && sqliteUnavailable(sqliteCode))) {
        err.kind = StoreError::Unavailable;
        err.outage = pg ? postgresOutage(code.toLatin1(), e.type() == QSqlError::ConnectionError || !db.isOpen())
                        : sqliteOutage(sqliteCode, db.databaseName());
        if (err.outage == StoreError::Outage::Unknown) // the connection is gone, in the driver's words
            err.outage = StoreError::Outage::Unreachable;
    }
    else if (code == QLatin1String("23505") || (!pg && SqliteStatements::rowTaken(sqliteCode)))
        err.kind = StoreError::Conflict;
    else
        err.kind = StoreError::Invalid;
    return err;
}
