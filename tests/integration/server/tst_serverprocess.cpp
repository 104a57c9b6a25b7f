// The real saga-server program (QProcess): command line, --help, token minting,
// "listening on" with port 0, an order end to end over HTTP and SSE, the
// retry cooldown, and graceful shutdown on SIGTERM with nothing lost.

#include "databaseurl.h"
#include "rawhttp.h"
#include "testservices.h"

#include <QFile>
#include <QProcess>
#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QRegularExpression>
#include <QTest>

#include <csignal>

namespace {

QJsonObject orderBody(const QString &customer, const QString &payment = QStringLiteral("good-card"))
{
    return QJsonObject{
        {"customerId", customer},
        {"items", QJsonArray{QJsonObject{{"productId", "widget-1"}, {"productName", "Widget"}, {"quantity", 3},
                                         {"unitPriceInCents", 1000}}}},
        {"paymentMethodId", payment},
        {"shippingAddress", QJsonObject{{"street", "1 Main St"}, {"city", "Springfield"}, {"state", "IL"},
                                        {"postalCode", "62701"}, {"country", "US"}}}};
}

QByteArray compact(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

} // namespace

class TestServerProcess : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void helpAndErrors();
    void tokenCommand();
    void servesOrdersAndShutsDownGracefully();
    void sameAgainstPostgres();
    void readOnlyDatabaseIsSaidAsSuch();
    void sigtermWithAFrozenDatabaseEnds();

private:
    QString run(const QStringList &args, int *exitCode);
    // Starts saga-server with `args`; its port, or 0 (and *failure says why).
    quint16 startServer(QProcess &server, const QStringList &args, QString *failure);
    QByteArray mint(const QString &subject, bool support);
    void exercise(const QString &databaseUrl);

    QString m_program;
    QString m_secret;
};

void TestServerProcess::initTestCase()
{
    m_program = TestServices::programPath(QStringLiteral("saga-server"));
    QVERIFY2(QFile::exists(m_program), qPrintable(m_program + " is not built"));
    m_secret = TestServices::tempDir() + QStringLiteral("/secret");
    QFile file(m_secret);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("process-test-secret-9a8b7c6d\n");
}

QString TestServerProcess::run(const QStringList &args, int *exitCode)
{
    QProcess p;
    TestServices::endsWithThisTest(p);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(m_program, args);
    if (!p.waitForFinished(60000))
        return QStringLiteral("(did not finish)");
    *exitCode = p.exitCode();
    return QString::fromUtf8(p.readAll());
}

QByteArray TestServerProcess::mint(const QString &subject, bool support)
{
    int code = -1;
    QStringList args{"token", "--subject", subject, "--ttl", "600", "--auth-secret-file", m_secret};
    if (support)
        args << "--role" << "SUPPORT";
    const QString out = run(args, &code);
    return code == 0 ? out.trimmed().toLatin1() : QByteArray();
}

void TestServerProcess::helpAndErrors()
{
    int code = -1;
    const QString help = run({"--help"}, &code);
    QCOMPARE(code, 0);
    for (const char *option : {"--listen", "--database", "--steps", "--step-delay", "--retry-cooldown", "--rate-limit",
                               "--max-streams", "--auth-secret-file"})
        QVERIFY2(help.contains(QLatin1String(option)), qPrintable(help));
    QVERIFY(help.contains(QLatin1String("saga-server token")));

    const QString noSecret = run({"--listen", "127.0.0.1:0"}, &code);
    QCOMPARE(code, 2);
    QVERIFY(noSecret.contains(QLatin1String("--auth-secret-file")));
    run({"--listen", "bogus", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
    QVERIFY2(help.contains(QLatin1String("sslmode=verify-full")), qPrintable(help));
    run({"--database", "mysql://x", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
    // The URL's query is read, not dropped: a parameter it cannot use stops the server, named.
    const QString badParameter =
        run({"--database", "postgresql://u:pw-s3cr3t@127.0.0.1:1/d?sslmode=requir", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
    QVERIFY2(badParameter.contains(QLatin1String("--database: Parameter 'sslmode'")), qPrintable(badParameter));
    QVERIFY2(!badParameter.contains(QLatin1String("s3cr3t")), qPrintable(badParameter));
    const QString badRate = run({"--rate-limit", "lots", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
    QVERIFY2(badRate.contains(QLatin1String("--rate-limit")), qPrintable(badRate));
    run({"--max-streams", "-3", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
}

void TestServerProcess::tokenCommand()
{
    const QByteArray token = mint(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"), true);
    QCOMPARE(token.count('.'), 2);
    const QJsonObject header = QJsonDocument::fromJson(QByteArray::fromBase64(token.split('.')[0], QByteArray::Base64UrlEncoding)).object();
    QCOMPARE(header.value("alg").toString(), QStringLiteral("HS256"));
    const QJsonObject claims = QJsonDocument::fromJson(QByteArray::fromBase64(token.split('.')[1], QByteArray::Base64UrlEncoding)).object();
    QCOMPARE(claims.value("sub").toString(), QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));
    QCOMPARE(claims.value("roles").toArray().first().toString(), QStringLiteral("SUPPORT"));
    QVERIFY(claims.value("exp").toInteger() > claims.value("iat").toInteger());
    int code = -1;
    run({"token", "--subject", "nope", "--auth-secret-file", m_secret}, &code);
    QCOMPARE(code, 2);
}

void TestServerProcess::exercise(const QString &databaseUrl)
{
    QProcess server;
    TestServices::endsWithThisTest(server);
    server.setProcessChannelMode(QProcess::SeparateChannels);
    server.start(m_program, {"--listen", "127.0.0.1:0", "--database", databaseUrl, "--step-delay", "30",
                             "--retry-cooldown", "3600", "--auth-secret-file", m_secret});
    QVERIFY(server.waitForStarted(30000));
    QTRY_VERIFY_WITH_TIMEOUT(server.canReadLine() || server.state() != QProcess::Running, 60000);
    const QString line = QString::fromUtf8(server.readLine()).trimmed();
    const QRegularExpressionMatch m = QRegularExpression(QStringLiteral("^listening on http://127\\.0\\.0\\.1:(\\d+)$")).match(line);
    QVERIFY2(m.hasMatch(), qPrintable(line + QString::fromUtf8(server.readAllStandardError())));
    const quint16 port = quint16(m.captured(1).toUInt());
    QVERIFY(port != 0);

    const QString customer = QUuid::createUuid().toString(QUuid::WithoutBraces);
    const QByteArray token = mint(customer, false);
    const QByteArray support = mint(QUuid::createUuid().toString(QUuid::WithoutBraces), true);
    QCOMPARE(http(port, "GET", "/health").status, 200);

    // Happy path with Prefer: wait, watched over SSE by the customer.
    HttpResult placed = http(port, "POST", "/api/orders", token, compact(orderBody(customer)), {{"Prefer", "wait=60"}});
    QCOMPARE(placed.status, 201);
    QCOMPARE(placed.json().value("totalChargedInCents").toInteger(), 3000);
    const QString id = placed.json().value("orderId").toString();
    SseReader stream(port, "/api/orders/" + id + "/status/stream", token, {{"Last-Event-ID", "0"}});
    QTRY_VERIFY_WITH_TIMEOUT(stream.closed(), 60000);
    QCOMPARE(stream.events().size(), 8);
    QCOMPARE(stream.events().first().event, QByteArray("SAGA_STARTED"));
    QCOMPARE(stream.events().last().event, QByteArray("SAGA_COMPLETED"));

    // A declined card, retried without correction, fails again; the next retry waits for the cooldown.
    placed = http(port, "POST", "/api/orders", token, compact(orderBody(customer, "declined-card")), {{"Prefer", "wait=60"}});
    QCOMPARE(placed.json().value("overallStatus").toString(), QStringLiteral("ROLLED_BACK"));
    const QString declined = placed.json().value("orderId").toString();
    QCOMPARE(http(port, "POST", "/api/orders/" + declined + "/retry", token).status, 202);
    QTRY_VERIFY_WITH_TIMEOUT(
        http(port, "GET", "/api/orders/" + declined + "/status", token).json().value("overallStatus").toString()
            == QLatin1String("ROLLED_BACK"),
        60000);
    const HttpResult cooldown = http(port, "POST", "/api/orders/" + declined + "/retry", token, "{\"paymentMethodId\":\"good-card\"}");
    QCOMPARE(cooldown.status, 409);
    QCOMPARE(cooldown.error(), QStringLiteral("RETRY_COOLDOWN"));
    QVERIFY(cooldown.json().value("details").toObject().contains("nextRetryAvailableAt"));
    const HttpResult eligibility = http(port, "GET", "/api/orders/" + declined + "/retry/eligibility", token);
    QCOMPARE(eligibility.json().value("eligible").toBool(), false);
    QVERIFY(!eligibility.json().value("nextRetryAvailableAt").toString().isEmpty());

    // Sagas in flight when SIGTERM arrives finish (or stay resumable): none is lost.
    QStringList inFlight;
    for (int i = 0; i < 10; ++i) {
        const HttpResult r = http(port, "POST", "/api/orders", token, compact(orderBody(customer)));
        QCOMPARE(r.status, 202);
        inFlight.append(r.json().value("orderId").toString());
    }
    SseReader all(port, QStringLiteral("/api/orders/stream"), support);
    QTRY_VERIFY_WITH_TIMEOUT(all.status() == 200, 60000);
    ::kill(pid_t(server.processId()), SIGTERM);
    QVERIFY(server.waitForFinished(60000));
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(all.closed(), 60000); // streams are closed on shutdown
    const QString log = QString::fromUtf8(server.readAllStandardError());
    QVERIFY2(log.contains(QLatin1String("shutting down")), qPrintable(log.right(2000)));

    // Restart on the same database: every order is there and reaches an end.
    QProcess again;
    TestServices::endsWithThisTest(again);
    again.start(m_program, {"--listen", "127.0.0.1:0", "--database", databaseUrl, "--auth-secret-file", m_secret});
    QVERIFY(again.waitForStarted(30000));
    QTRY_VERIFY_WITH_TIMEOUT(again.canReadLine(), 60000);
    const quint16 port2 = quint16(QRegularExpression(QStringLiteral(":(\\d+)$"))
                                      .match(QString::fromUtf8(again.readLine()).trimmed()).captured(1).toUInt());
    QVERIFY(port2 != 0);
    for (const QString &order : std::as_const(inFlight)) {
        QTRY_VERIFY_WITH_TIMEOUT(
            http(port2, "GET", "/api/orders/" + order + "/status", token).json().value("overallStatus").toString()
                == QLatin1String("COMPLETED"),
            60000);
    }
    ::kill(pid_t(again.processId()), SIGTERM);
    QVERIFY(again.waitForFinished(60000));
    QCOMPARE(again.exitCode(), 0);
}

void TestServerProcess::servesOrdersAndShutsDownGracefully()
{
    exercise(QStringLiteral("sqlite:") + TestServices::tempDir() + QStringLiteral("/process.db"));
}

void TestServerProcess::sameAgainstPostgres()
{
    QString error;
    const QString url = TestServices::newPostgresDatabase(&error);
    if (url.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
    exercise(url);
}

quint16 TestServerProcess::startServer(QProcess &server, const QStringList &args, QString *failure)
{
    server.setProcessChannelMode(QProcess::SeparateChannels);
    server.start(m_program, args);
    if (!server.waitForStarted(30000)) {
        *failure = QStringLiteral("did not start: ") + server.errorString();
        return 0;
    }
    if (!QTest::qWaitFor([&] { return server.canReadLine() || server.state() != QProcess::Running; }, 60000)) {
        *failure = QStringLiteral("said nothing in 60 s");
        return 0;
    }
    const QString line = QString::fromUtf8(server.readLine()).trimmed();
    const QRegularExpressionMatch m =
        QRegularExpression(QStringLiteral("^listening on http://127\\.0\\.0\\.1:(\\d+)$")).match(line);
    if (!m.hasMatch()) {
        *failure = line + QLatin1Char('\n') + QString::fromUtf8(server.readAllStandardError());
        return 0;
    }
    return quint16(m.captured(1).toUInt());
}

// saga-server on a SQLite file that takes no writes (immutable, so root cannot
// write it either): it starts and serves reads, /health says the database is down
// because it is read-only (READ_ONLY, a sentence without the driver's words), and
// an order or a retry is refused 503 naming that outage (details.cause), neither
// accepted nor a 500; it used to say "try again in a few seconds" whatever the
// outage. Writable again, health is UP, an order completes and the retry runs.
void TestServerProcess::readOnlyDatabaseIsSaidAsSuch()
{
    const QString file = TestServices::tempDir() + QStringLiteral("/readonly.db");
    const QStringList args{"--listen", "127.0.0.1:0", "--database", QStringLiteral("sqlite:") + file, "--step-delay",
                           "10", "--retry-cooldown", "0", "--auth-secret-file", m_secret};
    const QString customer = QUuid::createUuid().toString(QUuid::WithoutBraces);
    const QByteArray token = mint(customer, false);
    QVERIFY(!token.isEmpty());
    QString failure;
    QString declined;
    {
        QProcess first; // creates the file and its tables, and an order to retry later
        TestServices::endsWithThisTest(first);
        const quint16 port = startServer(first, args, &failure);
        QVERIFY2(port != 0, qPrintable(failure));
        const HttpResult placed = http(port, "POST", "/api/orders", token, compact(orderBody(customer, "declined-card")),
                                       {{"Prefer", "wait=60"}});
        QCOMPARE(placed.json().value("overallStatus").toString(), QStringLiteral("ROLLED_BACK"));
        declined = placed.json().value("orderId").toString();
        ::kill(pid_t(first.processId()), SIGTERM);
        QVERIFY(first.waitForFinished(60000));
        QCOMPARE(first.exitCode(), 0);
    }
    QVERIFY(!QFile::exists(file + QStringLiteral("-wal"))); // all of it in the file
    QString error;
    QVERIFY2(TestServices::setWritable(file, false, &error), qPrintable(error));
    auto writableAgain = qScopeGuard([&] { TestServices::setWritable(file, true, nullptr); });

    QProcess server;
    TestServices::endsWithThisTest(server);
    const quint16 port = startServer(server, args, &failure);
    QVERIFY2(port != 0, qPrintable(failure));
    auto stop = qScopeGuard([&] {
        ::kill(pid_t(server.processId()), SIGTERM);
        server.waitForFinished(60000);
    });

    HttpResult health;
    QTRY_VERIFY_WITH_TIMEOUT((health = http(port, "GET", "/health")).status == 503, 30000);
    const QJsonObject down = health.json().value("database").toObject();
    QCOMPARE(health.json().value("status").toString(), QStringLiteral("DOWN"));
    QCOMPARE(down.value("status").toString(), QStringLiteral("DOWN"));
    QCOMPARE(down.value("cause").toString(), QStringLiteral("READ_ONLY"));
    const QString message = down.value("message").toString();
    QVERIFY2(message.contains(QLatin1String("read-only")) && !message.contains(file), qPrintable(message));
    // Reads are served.
    QCOMPARE(http(port, "GET", "/api/orders/" + declined + "/status", token).json().value("overallStatus").toString(),
             QStringLiteral("ROLLED_BACK"));

    auto saysReadOnly = [&file](const HttpResult &r) {
        return r.status == 503 && r.error() == QLatin1String("SERVICE_UNAVAILABLE")
               && r.json().value("details").toObject().value("cause").toString() == QLatin1String("READ_ONLY")
               && r.json().value("message").toString().contains(QLatin1String("read-only"))
               && !r.body.contains(file.toUtf8());
    };
    const HttpResult refused = http(port, "POST", "/api/orders", token, compact(orderBody(customer)));
    QVERIFY2(saysReadOnly(refused), refused.body.constData());
    const HttpResult waited = http(port, "POST", "/api/orders", token, compact(orderBody(customer)), {{"Prefer", "wait=5"}});
    QVERIFY2(saysReadOnly(waited), waited.body.constData());
    const HttpResult retryRefused =
        http(port, "POST", "/api/orders/" + declined + "/retry", token, "{\"paymentMethodId\":\"good-card\"}");
    QVERIFY2(saysReadOnly(retryRefused), retryRefused.body.constData());

    QVERIFY2(TestServices::setWritable(file, true, &error), qPrintable(error));
    writableAgain.dismiss();
    QTRY_VERIFY_WITH_TIMEOUT((health = http(port, "GET", "/health")).status == 200, 60000);
    QCOMPARE(health.json().value("database").toObject().value("status").toString(), QStringLiteral("UP"));
    const HttpResult placed = http(port, "POST", "/api/orders", token, compact(orderBody(customer)), {{"Prefer", "wait=60"}});
    QVERIFY2(placed.status == 201, placed.body.constData());
    QCOMPARE(placed.json().value("status").toString(), QStringLiteral("COMPLETED"));
    const HttpResult retried =
        http(port, "POST", "/api/orders/" + declined + "/retry", token, "{\"paymentMethodId\":\"good-card\"}");
    QVERIFY2(retried.status == 202, retried.body.constData());
    QTRY_VERIFY_WITH_TIMEOUT(
        http(port, "GET", "/api/orders/" + declined + "/status", token).json().value("overallStatus").toString()
            == QLatin1String("COMPLETED"),
        60000);
    // The refused orders left nothing behind: the declined order and the one placed since.
    const HttpResult mine = http(port, "GET", "/api/orders/customer/" + customer, token);
    QCOMPARE(mine.status, 200);
    QCOMPARE(mine.jsonArray().size(), 2);

    stop.dismiss();
    ::kill(pid_t(server.processId()), SIGTERM);
    QVERIFY(server.waitForFinished(60000));
    QCOMPARE(server.exitCode(), 0);
}

// SIGTERM while the database server is frozen (its backends stopped: connections
// up, no query answered, so no timeout ends one) with sagas in flight: the engine
// cannot commit, release its leases or stop, and saga-server waited for it for
// good. It now stops anyway once the grace and a margin are over, says why, and
// exits 0 (what was not committed is not on record; another engine resumes the
// sagas once their leases run out: tst_engineonpostgres::frozenDatabaseDoesNotHangTheStop).
void TestServerProcess::sigtermWithAFrozenDatabaseEnds()
{
    QString error;
    const QString url = TestServices::newPostgresDatabase(&error);
    QVERIFY2(!url.isEmpty(), qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
    QProcess server;
    TestServices::endsWithThisTest(server);
    const quint16 port = startServer(server, {"--listen", "127.0.0.1:0", "--database", url, "--step-delay", "300",
                                              "--auth-secret-file", m_secret},
                                     &error);
    QVERIFY2(port != 0, qPrintable(error));
    const QString customer = QUuid::createUuid().toString(QUuid::WithoutBraces);
    const QByteArray token = mint(customer, false);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(http(port, "POST", "/api/orders", token, compact(orderBody(customer))).status, 202);

    // The server's backends: every other connection to its database.
    QList<qint64> backends;
    {
        const std::optional<DatabaseUrl> parsed = DatabaseUrl::parse(url, &error);
        QVERIFY2(parsed, qPrintable(error));
        QSqlDatabase db = parsed->addConnection(QStringLiteral("backends"));
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY2(q.exec(QStringLiteral("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")),
                 qPrintable(q.lastError().text()));
        while (q.next())
            backends.append(q.value(0).toLongLong());
    }
    QSqlDatabase::removeDatabase(QStringLiteral("backends"));
    QVERIFY(backends.size() >= 4); // the engine's, its committers', the feed's, the readers'
    for (qint64 pid : std::as_const(backends))
        QVERIFY(::kill(pid_t(pid), SIGSTOP) == 0);
    const auto resume = qScopeGuard([&backends] {
        for (qint64 pid : std::as_const(backends))
            ::kill(pid_t(pid), SIGCONT);
    });
    QTest::qWait(500); // step answers wait in commits that do not answer

    ::kill(pid_t(server.processId()), SIGTERM);
    QVERIFY2(server.waitForFinished(90000), "saga-server still running 90 s after SIGTERM");
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 0);
    const QString log = QString::fromUtf8(server.readAllStandardError());
    QVERIFY2(log.contains(QLatin1String("the engine has not stopped")), qPrintable(log.right(2000)));
    QVERIFY2(log.contains(QLatin1String("left to stop in the background")), qPrintable(log.right(2000)));
}

QTEST_GUILESS_MAIN(TestServerProcess)
#include "tst_serverprocess.moc"
