#pragma once

// A fresh database for a store test: backend "sqlite" is a new file in the test
// run's temporary directory (named <stem>-<n>.sqlite), anything else a new
// database on the test PostgreSQL cluster (tests/support). Stops the test run
// with the reason when PostgreSQL cannot be started.

#include "databaseurl.h"
#include "testservices.h"

#include <QString>

inline DatabaseUrl newStoreTestDatabase(const QString &backend, const QString &stem)
{
    if (backend == QLatin1String("sqlite")) {
        static int counter = 0;
        DatabaseUrl url;
        url.kind = DatabaseUrl::Kind::Sqlite;
        url.path = TestServices::tempDir() + QStringLiteral("/%1-%2.sqlite").arg(stem).arg(++counter);
        return url;
    }
    QString error;
    const QString text = TestServices::newPostgresDatabase(&error);
    if (text.isEmpty())
        qFatal("PostgreSQL: %s", qPrintable(error));
    return *DatabaseUrl::parse(text, &error);
}

