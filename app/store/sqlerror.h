#pragma once

#include "storeerror.h"

class QSqlDatabase;
class QSqlError;

// One reading of a failed QtSql call, for the engine's writes and every read
// (SagaStore, SnapshotReader): Unavailable when the connection is gone or the
// database says "not now" (PostgreSQL: isTransientSqlState; SQLite: busy, locked,
// I/O error, cannot open, full), Conflict for a row already written, Invalid
// otherwise. The message is `what: ` + sqlErrorText().
StoreError sqlFailure(const QSqlDatabase &db, const QSqlError &error, const QString &what);

// SQLite result codes (extended codes carry the primary one in the low byte) that
// mean "try again later": busy, locked, I/O error, cannot open, full, read-only (a
// file system remounted read-only after an error; the file replaced while open),
// damaged (corrupt, or "not a database" on a connection that has read it before:
// sqlFailure() says the latter is Invalid, the answer for a file being opened).
bool sqliteUnavailable(int code);

// The kind of outage a SQLite result code or a PostgreSQL SQLSTATE says
// (`connectionBad`: the connection is gone, whatever the code).
StoreError::Outage sqliteOutage(int code);
// The same for a failure of the SQLite file `databaseFile`: an I/O error there is
// a full disk when its folder's file system has (almost) no room left. SQLite
// says "disk I/O error", not "database or disk is full", for some writes a full
// disk refuses: the WAL index growing (SQLITE_IOERR_SHMSIZE) as a file is opened.
StoreError::Outage sqliteOutage(int code, const QString &databaseFile);
StoreError::Outage postgresOutage(const QByteArray &sqlState, bool connectionBad);
// The outage as a code for an API ("DISK_FULL"; "UNKNOWN").
QString outageCode(StoreError::Outage outage);

// The error's text without PostgreSQL's CONTEXT, QUERY, STATEMENT and LINE/caret
// lines (they quote the statement or the function it ran: a page of SQL per log
// line), and without the line breaks between message and DETAIL/HINT.
QString sqlErrorText(const QSqlError &error);
// The database's own sentence in the error, for people (StoreError::serverText): its
// first line without the severity ("ERROR:") and the SQLSTATE; empty when it says nothing.
QString serverSentence(const QSqlError &error);
