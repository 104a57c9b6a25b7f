#pragma once

#include "serverconfig.h"

#include <QString>
#include <QStringList>
#include <QUuid>

// The saga-server command line (ARCHITECTURE.md, "Programs"):
//   saga-server [--listen HOST:PORT] [--database URL] [--steps simulated|URL]
//               [--step-delay MS] [--retry-cooldown S] [--auth-secret-file F]
//   saga-server token --subject UUID [--role SUPPORT] [--ttl S] --auth-secret-file F
class ServerCommandLine
{
public:
    enum class Mode { Serve, Token, Help, Error };

    struct Token {
        QUuid subject;
        QStringList roles;
        qint64 ttlSeconds = 3600;
        QByteArray key;
    };

    Mode mode = Mode::Error;
    ServerConfig config;   // Serve
    Token token;           // Token
    QString text;          // Help: the help text; Error: what is wrong
    QStringList warnings;  // Serve: worth saying at start, not refusing (e.g. a short key)

    static ServerCommandLine parse(const QStringList &arguments);
    // The address the server listens on as a URL ("http://[::1]:8080" for IPv6).
    static QString listenUrl(const QString &host, quint16 port);
};
