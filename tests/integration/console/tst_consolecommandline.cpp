// The saga-console command line: parsed before any window exists, so help,
// version and mistakes answer without a display; and the built program itself,
// run with no display and offscreen.

#include "consolecommandline.h"
#include "testservices.h"

#include <QFile>
#include <QImage>
#include <QProcess>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

namespace {

ConsoleCommandLine parse(QStringList arguments)
{
    arguments.prepend(QStringLiteral("saga-console"));
    return ConsoleCommandLine::parse(arguments);
}

// The environment of a machine without any display and no platform chosen.
QProcessEnvironment headlessEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *variable : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        env.remove(QLatin1String(variable));
    return env;
}

struct Run {
    int exitCode = -1;
    QProcess::ExitStatus status = QProcess::CrashExit;
    QString out;
    QString err;
};

Run runConsole(const QStringList &arguments, const QProcessEnvironment &env, int timeoutMs = 30000)
{
    QProcess process;
    TestServices::endsWithThisTest(process);
    process.setProcessEnvironment(env);
    process.start(TestServices::programPath(QStringLiteral("saga-console")), arguments);
    Run run;
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        run.err = QStringLiteral("timed out");
        return run;
    }
    run.exitCode = process.exitCode();
    run.status = process.exitStatus();
    run.out = QString::fromLocal8Bit(process.readAllStandardOutput());
    run.err = QString::fromLocal8Bit(process.readAllStandardError());
    return run;
}

} // namespace

class tst_ConsoleCommandLine : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void defaultsToTheEmbeddedEngine();
    void choosesTheSource();
    void rejectsWhatItCannotUse_data();
    void rejectsWhatItCannotUse();
    void badDatabaseUrlIsSaidOnce_data();
    void badDatabaseUrlIsSaidOnce();
    void leavesQtOptionsToQApplication();
    void helpWinsOverMistakes();
    void displayProblemOnlyWithoutAnyDisplay();
    void programAnswersHelpAndVersionWithoutDisplay();
    void programSaysWhyItCannotStartWithoutDisplay();
    void programRunsDemoTrafficOffscreen();
    void terminatedConsoleReleasesItsLeases();
};

void tst_ConsoleCommandLine::initTestCase()
{
    QCoreApplication::setApplicationVersion(QStringLiteral("9.8.7"));
    qunsetenv("SAGA_CONSOLE_TOKEN"); // (a token of the environment would stand in for --token)
}

void tst_ConsoleCommandLine::defaultsToTheEmbeddedEngine()
{
    const ConsoleCommandLine c = parse({});
    QCOMPARE(int(c.mode), int(ConsoleCommandLine::Mode::Run));
    QCOMPARE(int(c.spec.kind), int(SourceSpec::Kind::Embedded));
    QVERIFY(!c.spec.embeddedDatabase.isPostgres());
    QCOMPARE(c.spec.stepDelayMs, 900);
    QVERIFY(!c.demo);
    QVERIFY(!c.demoOrdersPerMinute);
    QVERIFY(c.screenshotFile.isEmpty());
}

void tst_ConsoleCommandLine::choosesTheSource()
{
    const ConsoleCommandLine remote = parse({"--server", "http://127.0.0.1:8080", "--token", "abc"});
    QCOMPARE(int(remote.mode), int(ConsoleCommandLine::Mode::Run));
    QCOMPARE(int(remote.spec.kind), int(SourceSpec::Kind::Remote));
    QCOMPARE(remote.spec.serverUrl, QUrl(QStringLiteral("http://127.0.0.1:8080")));
    QCOMPARE(remote.spec.token, QStringLiteral("abc"));
    // HOST:PORT alone means http://HOST:PORT.
    const ConsoleCommandLine bare = parse({"--server", "127.0.0.1:8080", "--token", "abc"});
    QCOMPARE(int(bare.mode), int(ConsoleCommandLine::Mode::Run));
    QCOMPARE(bare.spec.serverUrl, QUrl(QStringLiteral("http://127.0.0.1:8080")));

    const ConsoleCommandLine database = parse({"--postgres", "postgresql://sagas@127.0.0.1:5432/sagas"});
    QCOMPARE(int(database.mode), int(ConsoleCommandLine::Mode::Run));
    QCOMPARE(int(database.spec.kind), int(SourceSpec::Kind::Database));
    QCOMPARE(database.spec.databaseUrl, QStringLiteral("postgresql://sagas@127.0.0.1:5432/sagas"));

    const ConsoleCommandLine embedded = parse({"--database", "sqlite:/tmp/x.sqlite", "--step-delay", "250", "--demo",
                                               "--demo-rate", "120", "--demo-failures", "0", "--screenshot", "/tmp/s.png",
                                               "--screenshot-after", "100", "--screenshot-select", "rolled_back"});
    QCOMPARE(int(embedded.mode), int(ConsoleCommandLine::Mode::Run));
    QCOMPARE(embedded.spec.embeddedDatabase.path, QStringLiteral("/tmp/x.sqlite"));
    QCOMPARE(embedded.spec.stepDelayMs, 250);
    QVERIFY(embedded.demo);
    QCOMPARE(embedded.demoOrdersPerMinute.value_or(-1), 120);
    QCOMPARE(embedded.demoFailurePercent.value_or(-1), 0);
    QCOMPARE(embedded.screenshotFile, QStringLiteral("/tmp/s.png"));
    QCOMPARE(embedded.screenshotAfterMs, 100);
    QVERIFY(embedded.screenshotSelect == OverallStatus::RolledBack);
}

void tst_ConsoleCommandLine::rejectsWhatItCannotUse_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message"); // a part of the error

    QTest::newRow("two sources") << QStringList{"--server", "http://h:1", "--postgres", "postgresql://u@h:1/d"}
                                 << "choose one of --server and --postgres";
    QTest::newRow("token without server") << QStringList{"--token", "t"} << "--token goes with --server";
    // Where it goes (it asked to "Enter a SUPPORT token", as the connection dialog does).
    QTest::newRow("server without token") << QStringList{"--server", "http://127.0.0.1:1"}
                                          << "SUPPORT token: --token T, or $SAGA_CONSOLE_TOKEN";
    QTest::newRow("server with an empty token") << QStringList{"--server", "http://127.0.0.1:1", "--token", " "}
                                                << "SUPPORT token: --token T, or $SAGA_CONSOLE_TOKEN";
    QTest::newRow("server not http") << QStringList{"--server", "ftp://h:1", "--token", "t"} << "http://HOST:PORT";
    QTest::newRow("server port out of range") << QStringList{"--server", "http://127.0.0.1:99999", "--token", "t"}
                                              << "http://HOST:PORT";
    QTest::newRow("server port not a number") << QStringList{"--server", "127.0.0.1:port", "--token", "t"}
                                              << "http://HOST:PORT";
    QTest::newRow("screenshot wait without a screenshot") << QStringList{"--screenshot-after", "100"}
                                                          << "--screenshot-after goes with --screenshot FILE";
    QTest::newRow("bad postgres url") << QStringList{"--postgres", "mysql://x"} << "postgresql://USER@HOST:PORT/DB";
    QTest::newRow("bad database url") << QStringList{"--database", "oracle:x"} << "--database:";
    // The URL's query is read, not dropped: a parameter it cannot use is named.
    QTest::newRow("unknown postgres parameter") << QStringList{"--postgres", "postgresql://u@h:1/d?sslmod=require"}
                                                << "Unknown parameter 'sslmod'";
    QTest::newRow("bad sslmode") << QStringList{"--postgres", "postgresql://u@h:1/d?sslmode=requir"}
                                 << "Parameter 'sslmode' in the PostgreSQL URL takes one of";
    QTest::newRow("bad database parameter") << QStringList{"--database", "postgresql://u@h:1/d?connect_timeout=%zz"}
                                            << "--database: The value of parameter 'connect_timeout'";
    QTest::newRow("sqlite parameter") << QStringList{"--database", "sqlite:/tmp/x.db?mode=ro"}
                                      << "The SQLite URL takes no parameters (it has 'mode'";
    QTest::newRow("step delay not a number") << QStringList{"--step-delay", "fast"}
                                             << "--step-delay takes milliseconds from 0 to 60000, not 'fast'";
    QTest::newRow("step delay too long") << QStringList{"--step-delay", "60001"} << "--step-delay takes";
    QTest::newRow("negative step delay") << QStringList{"--step-delay", "-1"} << "--step-delay takes";
    QTest::newRow("demo rate zero") << QStringList{"--demo-rate", "0"} << "--demo-rate takes orders per minute";
    QTest::newRow("failures over 100") << QStringList{"--demo-failures", "101"} << "--demo-failures takes a percentage";
    QTest::newRow("screenshot wait") << QStringList{"--screenshot", "/tmp/x.png", "--screenshot-after", "soon"}
                                     << "--screenshot-after takes";
    QTest::newRow("unknown status") << QStringList{"--screenshot", "/tmp/x.png", "--screenshot-select", "DONE"}
                                    << "'DONE' is not an order status";
    QTest::newRow("unknown option") << QStringList{"--bogus"} << "bogus";
    QTest::newRow("missing value") << QStringList{"--server"} << "server";
    QTest::newRow("positional") << QStringList{"orders.sqlite"} << "unexpected argument 'orders.sqlite'";
}

void tst_ConsoleCommandLine::rejectsWhatItCannotUse()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    const ConsoleCommandLine c = parse(arguments);
    QCOMPARE(int(c.mode), int(ConsoleCommandLine::Mode::Error));
    QVERIFY2(c.text.contains(message), qPrintable(c.text));
}

// A URL that is not one: the parser's sentence once, after the option it came
// with. It was wrapped in a second sentence with its own hint ("... (Unknown database
// URL; use sqlite:PATH or postgresql://USER@HOST:PORT/DB.). Use postgresql://...").
void tst_ConsoleCommandLine::badDatabaseUrlIsSaidOnce_data()
{
    QTest::addColumn<QString>("option");
    QTest::addColumn<QString>("url");
    QTest::newRow("--postgres garbage") << "--postgres" << "garbage";
    QTest::newRow("--postgres mysql") << "--postgres" << "mysql://x";
    QTest::newRow("--postgres without a database") << "--postgres" << "postgresql://u@h:5432";
    QTest::newRow("--postgres sqlite without a path") << "--postgres" << "sqlite:";
    QTest::newRow("--database oracle") << "--database" << "oracle:x";
}

void tst_ConsoleCommandLine::badDatabaseUrlIsSaidOnce()
{
    QFETCH(QString, option);
    QFETCH(QString, url);
    QString why;
    QVERIFY(!DatabaseUrl::parse(url, &why));
    QVERIFY(!why.isEmpty());
    const ConsoleCommandLine c = parse({option, url});
    QCOMPARE(int(c.mode), int(ConsoleCommandLine::Mode::Error));
    QCOMPARE(c.text, option + QStringLiteral(": ") + why);
    QVERIFY2(!c.text.contains(QLatin1String(".)")) && !c.text.contains(QLatin1String("..")), qPrintable(c.text));
    QVERIFY2(c.text.count(QLatin1String("USER@HOST")) <= 1, qPrintable(c.text));
    QVERIFY2(c.text.count(QLatin1String("sqlite:")) <= 1, qPrintable(c.text));
    if (url == QLatin1String("garbage")) // which forms work: both kinds
        QVERIFY2(c.text.contains(QLatin1String("sqlite:")) && c.text.contains(QLatin1String("postgresql://")),
                 qPrintable(c.text));

    // The connection dialog's check says the same sentence.
    SourceSpec spec;
    spec.kind = SourceSpec::Kind::Database;
    spec.databaseUrl = url;
    QCOMPARE(spec.validate(), why);
}

void tst_ConsoleCommandLine::leavesQtOptionsToQApplication()
{
    const ConsoleCommandLine c = parse({"-platform", "offscreen", "--style=fusion", "-reverse", "--demo",
                                        "-qwindowtitle", "My title", "--step-delay", "10"});
    QCOMPARE(int(c.mode), int(ConsoleCommandLine::Mode::Run));
    QVERIFY(c.demo);
    QCOMPARE(c.spec.stepDelayMs, 10);
}

void tst_ConsoleCommandLine::helpWinsOverMistakes()
{
    const ConsoleCommandLine help = parse({"--bogus", "--help"});
    QCOMPARE(int(help.mode), int(ConsoleCommandLine::Mode::Help));
    QVERIFY(help.text.startsWith(QStringLiteral("Usage: saga-console [options]\n")));
    for (const char *option : {"--demo", "--server <URL>", "--postgres <URL>", "--database <URL>", "--step-delay <MS>"})
        QVERIFY2(help.text.contains(QLatin1String(option)), option);
    QVERIFY(!help.text.contains(QStringLiteral("--screenshot"))); // a tool for the README pictures
    // Both database kinds are named where both work (the help said postgresql only for --postgres, sqlite only for
    // --database). The help wraps its lines, so compare without the wrapping.
    const QString flat = help.text.simplified();
    QVERIFY2(flat.contains(QLatin1String("postgresql://USER@HOST:PORT/DB[?PARAMS] (LISTEN/NOTIFY) or sqlite:PATH (polled)")),
             qPrintable(flat));
    QVERIFY2(flat.contains(QLatin1String("sqlite:PATH (default: in your data folder) or postgresql://USER@HOST:PORT/DB[?PARAMS]")),
             qPrintable(flat));
    QVERIFY2(flat.contains(QLatin1String("PARAMS: libpq connection parameters, e.g. sslmode=verify-full")), qPrintable(flat));

    const ConsoleCommandLine version = parse({"-v"});
    QCOMPARE(int(version.mode), int(ConsoleCommandLine::Mode::Version));
    QCOMPARE(version.text, QStringLiteral("saga-console 9.8.7\n"));
}

void tst_ConsoleCommandLine::displayProblemOnlyWithoutAnyDisplay()
{
    const QStringList plain{QStringLiteral("saga-console")};
    QProcessEnvironment none;
    QVERIFY(ConsoleCommandLine::displayProblem(plain, none).contains(QStringLiteral("DISPLAY")));
    QVERIFY(ConsoleCommandLine::displayProblem({"saga-console", "-platform", "offscreen"}, none).isEmpty());
    QVERIFY(ConsoleCommandLine::displayProblem({"saga-console", "--platform=offscreen"}, none).isEmpty());
    for (const char *variable : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) {
        QProcessEnvironment one;
        one.insert(QLatin1String(variable), QStringLiteral(":1"));
        QVERIFY2(ConsoleCommandLine::displayProblem(plain, one).isEmpty(), variable);
        one.insert(QLatin1String(variable), QString());
        QVERIFY2(!ConsoleCommandLine::displayProblem(plain, one).isEmpty(), variable); // set but empty
    }
}

void tst_ConsoleCommandLine::programAnswersHelpAndVersionWithoutDisplay()
{
    const Run help = runConsole({QStringLiteral("--help")}, headlessEnvironment());
    QCOMPARE(help.status, QProcess::NormalExit);
    QCOMPARE(help.exitCode, 0);
    QVERIFY2(help.out.startsWith(QStringLiteral("Usage: saga-console [options]")), qPrintable(help.out));
    QVERIFY(help.out.contains(QStringLiteral("--demo")));
    QVERIFY2(help.err.isEmpty(), qPrintable(help.err));

    const Run version = runConsole({QStringLiteral("--version")}, headlessEnvironment());
    QCOMPARE(version.exitCode, 0);
    QVERIFY2(version.out.startsWith(QStringLiteral("saga-console ")), qPrintable(version.out));

    const Run wrong = runConsole({QStringLiteral("--step-delay"), QStringLiteral("fast")}, headlessEnvironment());
    QCOMPARE(wrong.status, QProcess::NormalExit);
    QCOMPARE(wrong.exitCode, 2);
    QVERIFY2(wrong.err.contains(QStringLiteral("saga-console: --step-delay takes")), qPrintable(wrong.err));
}

void tst_ConsoleCommandLine::programSaysWhyItCannotStartWithoutDisplay()
{
    const Run run = runConsole({}, headlessEnvironment());
    QCOMPARE(run.status, QProcess::NormalExit); // Qt's own path aborts with a core dump
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.startsWith(QStringLiteral("saga-console: no display")), qPrintable(run.err));
    QVERIFY(run.err.contains(QStringLiteral("xvfb-run")));
}

void tst_ConsoleCommandLine::programRunsDemoTrafficOffscreen()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString database = dir.filePath(QStringLiteral("console.sqlite"));
    const QString picture = dir.filePath(QStringLiteral("console.png"));
    const Run run = runConsole({"-platform", "offscreen", "--database", "sqlite:" + database, "--step-delay", "0",
                                "--demo", "--demo-rate", "6000", "--screenshot", picture, "--screenshot-after", "2500"},
                               headlessEnvironment(), 60000);
    QCOMPARE(run.status, QProcess::NormalExit);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QVERIFY2(run.err.contains(QStringLiteral("screenshot saved to")), qPrintable(run.err));

    const QImage image(picture);
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), QSize(1400, 900));

    // --demo placed orders through the embedded engine, into the file it was given.
    int orders = 0;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("check"));
        db.setDatabaseName(database);
        QVERIFY(db.open());
        QSqlQuery query(db);
        QVERIFY(query.exec(QStringLiteral("SELECT count(*) FROM orders")));
        QVERIFY(query.next());
        orders = query.value(0).toInt();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("check"));
    QVERIFY2(orders > 0, "no demo orders were placed");
}

// SIGTERM (a session ending, kill) closes the console as File > Quit does: exit
// code 0, and the sagas it was running are left unleased for the next engine
// instead of held until their leases run out.
void tst_ConsoleCommandLine::terminatedConsoleReleasesItsLeases()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString database = dir.filePath(QStringLiteral("terminated.sqlite"));
    QProcess process;
    TestServices::endsWithThisTest(process);
    process.setProcessEnvironment(headlessEnvironment());
    process.setProcessChannelMode(QProcess::SeparateChannels);
    process.start(TestServices::programPath(QStringLiteral("saga-console")),
                  {"-platform", "offscreen", "--database", "sqlite:" + database, "--step-delay", "5000", "--demo",
                   "--demo-rate", "6000"});
    QVERIFY(process.waitForStarted(30000));
    auto leasedRunning = [&database] {
        int held = -1;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("leases"));
            db.setDatabaseName(database);
            db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
            if (db.open()) {
                QSqlQuery query(db);
                if (query.exec(QStringLiteral("SELECT count(*) FROM saga_executions WHERE completed_at IS NULL "
                                              "AND lease_owner IS NOT NULL"))
                    && query.next())
                    held = query.value(0).toInt();
            }
        }
        QSqlDatabase::removeDatabase(QStringLiteral("leases"));
        return held;
    };
    // Sagas in flight (5 s per step), leased by the console's engine.
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(database) && leasedRunning() > 0, 60000);
    process.terminate(); // SIGTERM
    QVERIFY(process.waitForFinished(30000));
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QVERIFY2(process.exitCode() == 0, qPrintable(QString::fromLocal8Bit(process.readAllStandardError())));
    QCOMPARE(leasedRunning(), 0);
}

QTEST_GUILESS_MAIN(tst_ConsoleCommandLine)
#include "tst_consolecommandline.moc"
