// saga-console: the desktop console of the order sagas (ARCHITECTURE.md, "Programs").

#include "demotraffic.h"
#include "mainwindow.h"
#include "sagalog.h"
#include "sourcespec.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QTimer>

#include <cstdio>

namespace {
int fail(const QString &message)
{
    std::fprintf(stderr, "saga-console: %s\n", qPrintable(message));
    return 2;
}
} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("SagaConsole"));
    QApplication::setApplicationName(QStringLiteral("saga-console"));
    QApplication::setApplicationDisplayName(QStringLiteral("Saga Console"));
    QApplication::setApplicationVersion(QStringLiteral(PROJECT_VERSION_STRING));
    QApplication::setDesktopFileName(QStringLiteral("saga-console"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Watch and operate order sagas live.\n\n"
                       "Without options: the embedded engine with a SQLite database in your data "
                       "folder. File > Connect offers the source you used last."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Start demo traffic at once (a steady mix of orders, including failures)."));
    const QCommandLineOption demoRate(QStringLiteral("demo-rate"), QStringLiteral("Demo traffic in orders per minute (default 30)."), QStringLiteral("N"));
    const QCommandLineOption demoFailures(QStringLiteral("demo-failures"), QStringLiteral("Share of demo orders that fail, in percent (default 30)."), QStringLiteral("PERCENT"));
    const QCommandLineOption server(QStringLiteral("server"), QStringLiteral("Remote mode: the saga-server to watch, e.g. http://127.0.0.1:8080."), QStringLiteral("URL"));
    const QCommandLineOption token(QStringLiteral("token"), QStringLiteral("Remote mode: a SUPPORT token (default: $SAGA_CONSOLE_TOKEN)."), QStringLiteral("T"));
    const QCommandLineOption postgres(QStringLiteral("postgres"), QStringLiteral("Database mode: read postgresql://USER@HOST:PORT/DB directly (LISTEN/NOTIFY)."), QStringLiteral("URL"));
    const QCommandLineOption database(QStringLiteral("database"), QStringLiteral("Embedded mode: the database of the embedded engine, sqlite:PATH."), QStringLiteral("URL"));
    const QCommandLineOption stepDelay(QStringLiteral("step-delay"), QStringLiteral("Embedded mode: simulated latency of each step in ms (default 900)."), QStringLiteral("MS"));
    QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Save a picture of the window to FILE, then quit."), QStringLiteral("FILE"));
    screenshot.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotAfter(QStringLiteral("screenshot-after"), QStringLiteral("Wait MS before the screenshot."), QStringLiteral("MS"), QStringLiteral("5000"));
    screenshotAfter.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotSelect(QStringLiteral("screenshot-select"), QStringLiteral("Before the screenshot, select and expand the latest order with this overall status."), QStringLiteral("STATUS"));
    screenshotSelect.setFlags(QCommandLineOption::HiddenFromHelp);
    for (const QCommandLineOption &o : {demo, demoRate, demoFailures, server, token, postgres, database, stepDelay,
                                        screenshot, screenshotAfter, screenshotSelect})
        parser.addOption(o);
    parser.process(app);

    const int modes = int(parser.isSet(server)) + int(parser.isSet(postgres));
    if (modes > 1)
        return fail(QStringLiteral("choose one of --server and --postgres."));
    if (parser.isSet(token) && !parser.isSet(server))
        return fail(QStringLiteral("--token goes with --server URL."));

    SourceSpec spec;
    if (parser.isSet(server)) {
        spec.kind = SourceSpec::Kind::Remote;
        spec.serverUrl = QUrl::fromUserInput(parser.value(server));
        spec.token = parser.isSet(token) ? parser.value(token) : qEnvironmentVariable("SAGA_CONSOLE_TOKEN");
    } else if (parser.isSet(postgres)) {
        spec.kind = SourceSpec::Kind::Database;
        spec.databaseUrl = parser.value(postgres);
    } else {
        // No source given: the embedded default (ARCHITECTURE.md, CLI). The last
        // source is remembered for the connection dialog, not switched to silently.
        spec.kind = SourceSpec::Kind::Embedded;
    }
    if (parser.isSet(database)) {
        QString error;
        const std::optional<DatabaseUrl> url = DatabaseUrl::parse(parser.value(database), &error);
        if (!url)
            return fail(QStringLiteral("--database: %1 (use sqlite:PATH)").arg(error));
        spec.embeddedDatabase = *url;
    }
    if (spec.kind == SourceSpec::Kind::Embedded && !spec.embeddedDatabase.isPostgres())
        QDir().mkpath(QFileInfo(spec.embeddedDatabase.path).absolutePath());
    if (parser.isSet(stepDelay))
        spec.stepDelayMs = qBound(0, parser.value(stepDelay).toInt(), 60000);
    const QString problem = spec.validate();
    if (!problem.isEmpty())
        return fail(problem);

    MainWindow window;
    window.restoreSettings();
    if (parser.isSet(demoRate))
        window.demoTraffic()->setOrdersPerMinute(parser.value(demoRate).toInt());
    if (parser.isSet(demoFailures))
        window.demoTraffic()->setFailurePercent(parser.value(demoFailures).toInt());
    if (parser.isSet(screenshot))
        window.resize(1400, 900);
    window.show();

    window.connectTo(spec);
    if (parser.isSet(demo)) {
        QObject::connect(window.source(), &ProgressSource::initialLoadFinished, &window,
                         [&window] { window.setDemoRunning(true); }, Qt::SingleShotConnection);
    }

    if (parser.isSet(screenshot)) {
        const QString file = parser.value(screenshot);
        const QString select = parser.value(screenshotSelect).toUpper();
        const int after = parser.value(screenshotAfter).toInt();
        if (!select.isEmpty()) {
            QTimer::singleShot(qMax(0, after - 1500), &window, [&window, select] {
                if (const auto status = overallStatusFromString(select))
                    window.selectFirstOrderWithStatus(*status, true);
            });
        }
        QTimer::singleShot(after, &window, [&window, file] {
            const bool ok = window.grab().save(file);
            qCInfo(lcUi).noquote() << (ok ? "screenshot saved to" : "could not save screenshot to") << file;
            window.close();
            QCoreApplication::exit(ok ? 0 : 1);
        });
    }
    return app.exec();
}
