#pragma once

#include <QList>
#include <QString>
#include <optional>
#include <utility>

class QSqlDatabase;

// `sqlite:PATH` or `postgresql://USER[:PASSWORD]@HOST:PORT/DB[?KEYWORD=VALUE&...]`
// (ARCHITECTURE.md, CLI). The query holds libpq connection parameters (sslmode,
// sslrootcert, connect_timeout, application_name, target_session_attrs, ...;
// parse() lists them); every PostgreSQL connection the programs open carries them.
struct DatabaseUrl {
    enum class Kind { Sqlite, Postgres };
    Kind kind = Kind::Sqlite;
    QString path; // sqlite
    QString user, password, host, database;
    int port = 5432;
    // The URL's connection parameters, percent-decoded, in the URL's order, each
    // keyword once (`host` and `port` from the query are in host and port, not here).
    QList<std::pair<QString, QString>> parameters;

    // Refuses what would otherwise be ignored or misread: an unknown keyword, a
    // keyword given twice, an empty or out-of-range value, malformed
    // percent-encoding, a `#...` part, parameters on a sqlite: URL. The error
    // names the parameter (never a secret's value).
    static std::optional<DatabaseUrl> parse(const QString &text, QString *error);
    // The default embedded database in the user's data folder.
    static DatabaseUrl defaultSqlite();
    // The URL as parse() reads it back, without the password or sslpassword (it
    // goes to logs, the console's banner and its settings).
    QString toString() const;
    QString driverName() const; // QSQLITE / QPSQL
    bool isPostgres() const { return kind == Kind::Postgres; }
    // The value of connection parameter `keyword`, null when the URL has none.
    QString parameter(const QString &keyword) const;
    // Adds a QtSql connection named `connectionName` to this database (not
    // opened); on PostgreSQL with connectOptions() set.
    QSqlDatabase addConnection(const QString &connectionName) const;
    // QPSQL's connect options (QSqlDatabase::setConnectOptions) of every
    // PostgreSQL connection: the programs' defaults (connect_timeout 5 s, TCP
    // keepalives, tcp_user_timeout 30 s; the program's name as
    // fallback_application_name) with the URL's parameters over them, each value
    // quoted for libpq; empty for SQLite.
    // A connection opened with libpq directly (PQconnectdb) would take the same
    // keywords; none is: libpq is only used on QPSQL's own connections (pgcopy.h).
    QString connectOptions() const;
};
