#include "jwtverifier.h"
#include "sagalog.h"
#include "servercommandline.h"
#include "serverruntime.h"
#include "threadexit.h"
#include "unixsignalwatcher.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QTextStream>

#include <csignal>
#include <cstdio>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("saga-server"));
    QCoreApplication::setOrganizationName(QStringLiteral("SagaConsole"));

    const ServerCommandLine command = ServerCommandLine::parse(QCoreApplication::arguments());
    QTextStream out(stdout);
    QTextStream err(stderr);
    switch (command.mode) {
    case ServerCommandLine::Mode::Help:
        out << command.text << Qt::endl;
        return 0;
    case ServerCommandLine::Mode::Error:
        err << "saga-server: " << command.text << Qt::endl;
        return 2;
    case ServerCommandLine::Mode::Token: {
        const QByteArray token = JwtVerifier::mint(command.token.key, command.token.subject, command.token.roles,
                                                   command.token.ttlSeconds, QDateTime::currentSecsSinceEpoch());
        if (token.isEmpty()) {
            err << "saga-server: could not sign the token" << Qt::endl;
            return 1;
        }
        out << token << Qt::endl;
        return 0;
    }
    case ServerCommandLine::Mode::Serve:
        for (const QString &warning : command.warnings)
            err << "saga-server: warning: " << warning << Qt::endl;
        break;
    }

    std::signal(SIGPIPE, SIG_IGN);
    UnixSignalWatcher signalWatcher;
    signalWatcher.watch(SIGTERM);
    signalWatcher.watch(SIGINT);

    int code = 0;
    int exitCode = 0;
    {
        ServerRuntime runtime(command.config);
        QObject::connect(&runtime, &ServerRuntime::ready, &app, [&out, &command](quint16 port) {
            out << "listening on " << ServerCommandLine::listenUrl(command.config.listenHost, port) << Qt::endl;
            out.flush();
            std::fflush(stdout);
        });
        QObject::connect(&runtime, &ServerRuntime::failed, &app, [&err, &exitCode](const QString &reason) {
            err << "saga-server: " << reason << Qt::endl;
            exitCode = 1;
            QCoreApplication::exit(1);
        });
        QObject::connect(&runtime, &ServerRuntime::stopped, &app, [] { QCoreApplication::exit(0); });
        QObject::connect(&signalWatcher, &UnixSignalWatcher::received, &runtime, [&runtime](int signalNumber) {
            qCInfo(lcServer) << "signal" << signalNumber << "received";
            runtime.shutdown();
        });
        runtime.start();
        code = app.exec();
    } // the engine stops here, or is left when its database does not answer (~EngineHost)
    return ThreadExit::processExitCode(exitCode != 0 ? exitCode : code);
}
