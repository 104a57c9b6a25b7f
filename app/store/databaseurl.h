#pragma once

#include <QString>
#include <optional>

class QSqlDatabase;

// `sqlite:PATH` or `postgresql://USER[:PASSWORD]@HOST:PORT/DB` (ARCHITECTURE.md, CLI).
struct DatabaseUrl {
    enum class Kind { Sqlite, Postgres };
    Kind kind = Kind::Sqlite;
    QString path; // sqlite
    QString user, password, host, database;
    int port = 5432;

    static std::optional<DatabaseUrl> parse(const QString &text, QString *error);
    // The default embedded database in the user's data folder.
    static DatabaseUrl defaultSqlite();
    QString toString() const;  // without the password
    QString driverName() const; // QSQLITE / QPSQL
    bool isPostgres() const { return kind == Kind::Postgres; }
    // Adds a QtSql connection named `connectionName` to this database (not opened).
    QSqlDatabase addConnection(const QString &connectionName) const;
};
