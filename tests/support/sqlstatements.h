#pragma once

// For tests that change a database under the program (grants, triggers, schemas):
// runs SQL through a connection of their own. Header-only: it needs the store's
// DatabaseUrl, which saga_testsupport does not link.

#include "databaseurl.h"

#include <QRandomGenerator>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>

// Runs `statements` in order in `url`'s database, as its user (the test cluster's
// superuser for the URLs TestServices makes): empty, or why the first that failed did.
inline QString runInDatabase(const DatabaseUrl &url, const QStringList &statements)
{
    const QString name = QStringLiteral("tst-sql-%1").arg(QRandomGenerator::global()->generate());
    QString error;
    {
        QSqlDatabase db = url.addConnection(name);
        if (!db.open()) {
            error = db.lastError().text();
        } else {
            QSqlQuery q(db);
            for (const QString &sql : statements) {
                if (!q.exec(sql)) {
                    error = sql + QStringLiteral(": ") + q.lastError().text();
                    break;
                }
            }
        }
    }
    QSqlDatabase::removeDatabase(name);
    return error;
}
