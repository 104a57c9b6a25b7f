// saga-console: the desktop console of the order sagas (ARCHITECTURE.md, "Programs").

#include "consolecommandline.h"
#include "demotraffic.h"
#include "mainwindow.h"
#include "sagalog.h"
#include "threadexit.h"
#include "unixsignalwatcher.h"

#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <csignal>
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
    QCoreApplication::setOrganizationName(QStringLiteral("SagaConsole"));
    QCoreApplication::setApplicationName(QStringLiteral("saga-console"));
    QCoreApplication::setApplicationVersion(QStringLiteral(PROJECT_VERSION_STRING));

    // Parsed before QApplication, which needs a display: --help, --version and
    // argument errors answer anywhere.
    QStringList arguments;
    for (int i = 0; i < argc; ++i)
        arguments << QString::fromLocal8Bit(argv[i]);
    const ConsoleCommandLine options = ConsoleCommandLine::parse(arguments);
    switch (options.mode) {
    case ConsoleCommandLine::Mode::Help:
    case ConsoleCommandLine::Mode::Version:
        std::fputs(qPrintable(options.text), stdout);
        return 0;
    case ConsoleCommandLine::Mode::Error:
        return fail(options.text);
    case ConsoleCommandLine::Mode::Run:
        break;
    }
    const QString noDisplay = ConsoleCommandLine::displayProblem(arguments, QProcessEnvironment::systemEnvironment());
    if (!noDisplay.isEmpty())
        return fail(noDisplay);

    QApplication app(argc, argv);
    QApplication::setApplicationDisplayName(QStringLiteral("Saga Console"));
    QApplication::setDesktopFileName(QStringLiteral("saga-console"));

    const SourceSpec &spec = options.spec;
    if (spec.kind == SourceSpec::Kind::Embedded && !spec.embeddedDatabase.isPostgres())
        QDir().mkpath(QFileInfo(spec.embeddedDatabase.path).absolutePath());

    int exitCode = 0;
    {
        MainWindow window;
        // SIGTERM / SIGINT (a session ending, kill, Ctrl+C in the terminal) close the
        // window as File > Quit does: the engine stops cleanly and releases its leases.
        UnixSignalWatcher signalWatcher;
        signalWatcher.watch(SIGTERM);
        signalWatcher.watch(SIGINT);
        QObject::connect(&signalWatcher, &UnixSignalWatcher::received, &window, [&window](int signalNumber) {
            qCInfo(lcUi) << "signal" << signalNumber << "received, closing";
            window.close();
        });
        window.restoreSettings();
        window.setDemoForThisRun(options.demoOrdersPerMinute, options.demoFailurePercent);
        const bool screenshot = !options.screenshotFile.isEmpty();
        if (screenshot)
            window.resize(1400, 900);
        window.show();

        window.connectTo(spec);
        if (options.demo) {
            QObject::connect(window.source(), &ProgressSource::initialLoadFinished, &window,
                             [&window] { window.setDemoRunning(true); }, Qt::SingleShotConnection);
        }

        if (screenshot) {
            const QString file = options.screenshotFile;
            const int after = options.screenshotAfterMs;
            if (const std::optional<OverallStatus> select = options.screenshotSelect) {
                QTimer::singleShot(qMax(0, after - 1500), &window,
                                   [&window, status = *select] { window.selectFirstOrderWithStatus(status, true); });
            }
            QTimer::singleShot(after, &window, [&window, file] {
                const bool ok = window.grab().save(file);
                qCInfo(lcUi).noquote() << (ok ? "screenshot saved to" : "could not save screenshot to") << file;
                window.close();
                QCoreApplication::exit(ok ? 0 : 1);
            });
        }
        exitCode = app.exec();
    } // (the window and its source go here)
    // A database query that never answered (a frozen server) may still be out in a
    // thread (a reader, the event feed, the engine or its committers). What was not
    // committed is not on record; the engine's sagas are resumed once their leases run out.
    return ThreadExit::processExitCode(exitCode);
}
