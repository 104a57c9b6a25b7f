// The test services themselves: a real PostgreSQL answers on loopback and a real
// WireMock serves the project's mappings. Every integration test relies on these.
#include "testservices.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QSignalSpy>
#include <QTest>

class TestServicesTest : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void postgresCreatesIsolatedDatabases()
    {
        QString error;
        const QString a = TestServices::newPostgresDatabase(&error);
        QVERIFY2(!a.isEmpty(), qPrintable(error));
        const QString b = TestServices::newPostgresDatabase(&error);
        QVERIFY2(!b.isEmpty(), qPrintable(error));
        QVERIFY(a != b);
        const QUrl url(a);
        QCOMPARE(url.scheme(), QStringLiteral("postgresql"));
        QCOMPARE(url.host(), QStringLiteral("127.0.0.1"));
        // The database really exists: the admin connection can see it.
        QVERIFY2(TestServices::postgresAdmin(
                     QStringLiteral("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_database WHERE "
                                    "datname = '%1') THEN RAISE EXCEPTION 'missing'; END IF; END $$")
                         .arg(url.path().mid(1)),
                     &error),
                 qPrintable(error));
        // A bad statement is reported, not swallowed.
        QVERIFY(!TestServices::postgresAdmin(QStringLiteral("SELECT no_such_function()"), &error));
        QVERIFY(error.contains(QLatin1String("no_such_function")));
    }

    void wiremockAnswersAndResets()
    {
        QString error;
        const QUrl base = TestServices::wiremockUrl(&error);
        QVERIFY2(base.isValid() && !base.isEmpty(), qPrintable(error));
        QCOMPARE(base.host(), QStringLiteral("127.0.0.1"));
        QNetworkAccessManager nam;
        std::unique_ptr<QNetworkReply> reply(
            nam.get(QNetworkRequest(base.resolved(QUrl(QStringLiteral("/__admin/mappings"))))));
        QSignalSpy done(reply.get(), &QNetworkReply::finished);
        QVERIFY(done.wait(15000));
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
        QVERIFY(reply->readAll().contains("\"mappings\""));
        QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
    }
};

QTEST_MAIN(TestServicesTest)
#include "tst_testservices.moc"
