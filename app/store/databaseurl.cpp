#include "databaseurl.h"

#include <QDir>
#include <QSqlDatabase>
#include <QStandardPaths>
#include <QUrl>

std::optional<DatabaseUrl> DatabaseUrl::parse(const QString &text, QString *error)
{
    auto fail = [error](const QString &why) -> std::optional<DatabaseUrl> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    const QString trimmed = text.trimmed();
    if (trimmed.startsWith(QLatin1String("sqlite:"))) {
        DatabaseUrl url;
        url.kind = Kind::Sqlite;
        url.path = trimmed.mid(7);
        if (url.path.startsWith(QLatin1String("//")))
            url.path = url.path.mid(2);
        if (url.path.isEmpty())
            return fail(QStringLiteral("The SQLite URL needs a file path, e.g. sqlite:/tmp/saga.db."));
        return url;
    }
    if (trimmed.startsWith(QLatin1String("postgresql://")) || trimmed.startsWith(QLatin1String("postgres://"))) {
        const QUrl qurl(trimmed, QUrl::StrictMode);
        if (!qurl.isValid() || qurl.host().isEmpty())
            return fail(QStringLiteral("The PostgreSQL URL is not valid; use postgresql://USER@HOST:PORT/DB."));
        DatabaseUrl url;
        url.kind = Kind::Postgres;
        url.user = qurl.userName();
        url.password = qurl.password();
        url.host = qurl.host();
        url.port = qurl.port(5432);
        url.database = qurl.path().mid(1);
        if (url.database.isEmpty())
            return fail(QStringLiteral("The PostgreSQL URL needs a database name, e.g. postgresql://saga@localhost:5432/saga."));
        return url;
    }
    return fail(QStringLiteral("Unknown database URL; use sqlite:PATH or postgresql://USER@HOST:PORT/DB."));
}

DatabaseUrl DatabaseUrl::defaultSqlite()
{
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    if (dir.isEmpty())
        dir = QDir::homePath() + QStringLiteral("/.local/share/saga-console");
    DatabaseUrl url;
    url.kind = Kind::Sqlite;
    url.path = dir + QStringLiteral("/saga-console.sqlite");
    return url;
}

QString DatabaseUrl::toString() const
{
    if (kind == Kind::Sqlite)
        return QStringLiteral("sqlite:") + path;
    QString userPart = user.isEmpty() ? QString() : user + QLatin1Char('@');
    return QStringLiteral("postgresql://%1%2:%3/%4").arg(userPart, host).arg(port).arg(database);
}

QString DatabaseUrl::driverName() const
{
    return kind == Kind::Sqlite ? QStringLiteral("QSQLITE") : QStringLiteral("QPSQL");
}

QSqlDatabase DatabaseUrl::addConnection(const QString &connectionName) const
{
    QSqlDatabase db = QSqlDatabase::addDatabase(driverName(), connectionName);
    if (isPostgres()) {
        db.setHostName(host);
        db.setPort(port);
        db.setDatabaseName(database);
        db.setUserName(user);
        db.setPassword(password);
    } else {
        db.setDatabaseName(path);
    }
    return db;
}
