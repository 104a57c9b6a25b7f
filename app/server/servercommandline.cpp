#include "servercommandline.h"

#include "jwtverifier.h"

#include <QCommandLineParser>
#include <algorithm>
#include <cmath>
#include <limits>

namespace {

ServerCommandLine fail(const QString &message)
{
    ServerCommandLine result;
    result.mode = ServerCommandLine::Mode::Error;
    result.text = message;
    return result;
}

bool parseListen(const QString &text, ServerConfig *config, QString *error)
{
    const qsizetype colon = text.lastIndexOf(u':');
    if (colon <= 0) {
        *error = QStringLiteral("--listen takes HOST:PORT, e.g. 127.0.0.1:8080");
        return false;
    }
    QString host = text.left(colon);
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);
    const QString portText = text.mid(colon + 1);
    bool ok = !portText.isEmpty() && portText.size() <= 5
              && std::all_of(portText.cbegin(), portText.cend(), [](QChar c) { return c >= u'0' && c <= u'9'; });
    const int port = ok ? portText.toInt(&ok) : -1; // digits only: not " 8080", "+8080"
    if (!ok || port < 0 || port > 65535) {
        *error = QStringLiteral("--listen: the port must be a number from 0 to 65535");
        return false;
    }
    QHostAddress address;
    if (host == QLatin1String("localhost"))
        address = QHostAddress::LocalHost;
    else if (host == QLatin1String("*") || host == QLatin1String("0.0.0.0"))
        address = QHostAddress::AnyIPv4;
    else if (!address.setAddress(host)) {
        *error = QStringLiteral("--listen: %1 is not an IP address").arg(host);
        return false;
    }
    config->listenAddress = address;
    config->listenHost = host;
    config->listenPort = quint16(port);
    return true;
}

// --rate-limit PER_S[:BURST] | off (0 is off too); BURST defaults to 4 x PER_S.
bool parseRateLimit(const QString &text, ServerConfig *config, QString *error)
{
    *error = QStringLiteral("--rate-limit takes PER_SECOND[:BURST] (e.g. 50:200; PER_SECOND from 0.001 to 1000000), "
                            "or off");
    const QString value = text.trimmed();
    if (value.compare(QLatin1String("off"), Qt::CaseInsensitive) == 0) {
        config->rateLimitPerSecond = 0;
        return true;
    }
    const QStringList parts = value.split(u':');
    if (parts.size() > 2)
        return false;
    bool ok = false;
    const double perSecond = parts.at(0).toDouble(&ok);
    // At least one per 1,000 s: a slower rate's wait (Retry-After) is no use to anyone.
    if (!ok || !std::isfinite(perSecond) || perSecond < 0 || perSecond > 1e6 || (perSecond > 0 && perSecond < 0.001))
        return false;
    if (perSecond == 0) {
        if (parts.size() > 1)
            return false;
        config->rateLimitPerSecond = 0;
        return true;
    }
    double burst = std::max(1.0, std::ceil(4 * perSecond));
    if (parts.size() == 2) {
        const int b = parts.at(1).toInt(&ok);
        if (!ok || b < 1 || b > 1000000) {
            *error = QStringLiteral("--rate-limit: BURST must be a whole number from 1 to 1000000");
            return false;
        }
        burst = b;
    }
    config->rateLimitPerSecond = perSecond;
    config->rateLimitBurst = burst;
    return true;
}

bool parseMaxStreams(const QString &text, ServerConfig *config, QString *error)
{
    const QString value = text.trimmed();
    if (value.compare(QLatin1String("off"), Qt::CaseInsensitive) == 0) {
        config->maxStreamsPerClient = 0;
        return true;
    }
    bool ok = false;
    const int n = value.toInt(&ok);
    if (!ok || n < 0 || n > 1000000) {
        *error = QStringLiteral("--max-streams takes a number of streams from 0 (no limit) to 1000000");
        return false;
    }
    config->maxStreamsPerClient = n;
    return true;
}

} // namespace

ServerCommandLine ServerCommandLine::parse(const QStringList &arguments)
{
    const bool tokenMode = arguments.size() > 1 && arguments.at(1) == QLatin1String("token");
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help."));
    const QCommandLineOption secret(QStringLiteral("auth-secret-file"),
                                    QStringLiteral("File holding the HS256 key (trailing whitespace removed)."),
                                    QStringLiteral("F"));
    parser.addOption(help);
    parser.addOption(secret);

    if (tokenMode) {
        parser.setApplicationDescription(QStringLiteral("Mints a bearer token for saga-server."));
        const QCommandLineOption subject(QStringLiteral("subject"), QStringLiteral("Customer UUID (the sub claim)."),
                                         QStringLiteral("UUID"));
        const QCommandLineOption role(QStringLiteral("role"), QStringLiteral("A role, e.g. SUPPORT (repeatable)."),
                                      QStringLiteral("ROLE"));
        const QCommandLineOption ttl(QStringLiteral("ttl"), QStringLiteral("Lifetime in seconds (default 3600)."),
                                     QStringLiteral("S"), QStringLiteral("3600"));
        parser.addOptions({subject, role, ttl});
        parser.addPositionalArgument(QStringLiteral("token"), QStringLiteral("Mint a token."));
        if (!parser.parse(arguments))
            return fail(parser.errorText());
        if (parser.isSet(help)) {
            ServerCommandLine result;
            result.mode = Mode::Help;
            result.text = QStringLiteral("Usage: saga-server token --subject UUID [--role SUPPORT] [--ttl S] "
                                         "--auth-secret-file F\n\n")
                          + parser.helpText().section(u'\n', 2);
            return result;
        }
        ServerCommandLine result;
        result.mode = Mode::Token;
        result.token.subject = QUuid::fromString(parser.value(subject));
        if (result.token.subject.isNull())
            return fail(QStringLiteral("token: --subject must be a customer UUID"));
        result.token.roles = parser.values(role);
        for (const QString &r : std::as_const(result.token.roles)) {
            if (r != QLatin1String("SUPPORT"))
                return fail(QStringLiteral("token: the only role is SUPPORT (got %1)").arg(r));
        }
        bool ok = false;
        result.token.ttlSeconds = parser.value(ttl).toLongLong(&ok);
        constexpr qint64 kMaxTtl = 10LL * 366 * 24 * 3600; // ten years: exp stays far from overflowing
        if (!ok || result.token.ttlSeconds <= 0 || result.token.ttlSeconds > kMaxTtl)
            return fail(QStringLiteral("token: --ttl must be a number of seconds from 1 to %1 (ten years)").arg(kMaxTtl));
        if (!parser.isSet(secret))
            return fail(QStringLiteral("token: --auth-secret-file F is required"));
        QString error;
        result.token.key = JwtVerifier::readKeyFile(parser.value(secret), &error);
        if (result.token.key.isEmpty())
            return fail(error);
        return result;
    }

    parser.setApplicationDescription(
        QStringLiteral("The Saga Console server: runs order sagas and serves the REST + Server-Sent Events API.\n"
                       "Mint a token with: saga-server token --subject UUID [--role SUPPORT] [--ttl S] "
                       "--auth-secret-file F"));
    const QCommandLineOption listen(QStringLiteral("listen"),
                                    QStringLiteral("Address to listen on (default 127.0.0.1:8080; port 0 picks a free one)."),
                                    QStringLiteral("HOST:PORT"), QStringLiteral("127.0.0.1:8080"));
    const QCommandLineOption database(QStringLiteral("database"),
                                      QStringLiteral("sqlite:PATH or postgresql://USER@HOST:PORT/DB[?PARAMS] (default: SQLite in the data "
                                                     "folder). PARAMS: libpq connection parameters, e.g. "
                                                     "sslmode=verify-full&sslrootcert=FILE (README, Database URLs)."),
                                      QStringLiteral("URL"));
    const QCommandLineOption steps(QStringLiteral("steps"),
                                   QStringLiteral("simulated (default) or the base URL of the step services."),
                                   QStringLiteral("simulated|URL"), QStringLiteral("simulated"));
    const QCommandLineOption stepDelay(QStringLiteral("step-delay"),
                                       QStringLiteral("Latency of each simulated step call in ms (default 0)."),
                                       QStringLiteral("MS"), QStringLiteral("0"));
    const QCommandLineOption cooldown(QStringLiteral("retry-cooldown"),
                                      QStringLiteral("Seconds between retries of one order (default 30)."),
                                      QStringLiteral("S"), QStringLiteral("30"));
    const QCommandLineOption rateLimit(
        QStringLiteral("rate-limit"),
        QStringLiteral("New orders, retries and fault changes per client (token subject; address for requests "
                       "without a valid token, which count too): sustained per second and burst (default 50:200; "
                       "BURST defaults to 4 x PER_S). Beyond it: 429 with Retry-After. 0 or off: no limit."),
        QStringLiteral("PER_S[:BURST]"), QStringLiteral("50:200"));
    const QCommandLineOption maxStreams(
        QStringLiteral("max-streams"),
        QStringLiteral("Event streams one client may hold open at once (default 64); more: 429. 0: no limit."),
        QStringLiteral("N"), QStringLiteral("64"));
    const QCommandLineOption orderAnswer(
        QStringLiteral("order-answer-timeout"),
        QStringLiteral("Seconds a new order's client waits while its recording is undecided (the database went away "
                       "mid-commit) before hearing 503 ORDER_OUTCOME_UNKNOWN, 'may have been placed' (default 15)."),
        QStringLiteral("S"), QStringLiteral("15"));
    parser.addOptions({listen, database, steps, stepDelay, cooldown, rateLimit, maxStreams, orderAnswer});
    if (!parser.parse(arguments))
        return fail(parser.errorText());
    if (parser.isSet(help)) {
        ServerCommandLine result;
        result.mode = Mode::Help;
        result.text = QStringLiteral("Usage: saga-server [--listen HOST:PORT] [--database URL] [--steps simulated|URL] "
                                     "[--step-delay MS] [--retry-cooldown S] [--rate-limit PER_S[:BURST]] "
                                     "[--max-streams N] [--order-answer-timeout S] [--auth-secret-file F]\n\n")
                      + parser.helpText().section(u'\n', 2);
        return result;
    }
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument %1 (see --help)").arg(parser.positionalArguments().first()));

    ServerCommandLine result;
    result.mode = Mode::Serve;
    QString error;
    if (!parseListen(parser.value(listen), &result.config, &error))
        return fail(error);
    if (parser.isSet(database)) {
        const auto url = DatabaseUrl::parse(parser.value(database), &error);
        if (!url)
            return fail(QStringLiteral("--database: %1").arg(error));
        result.config.engine.database = *url;
    }
    const QString stepsValue = parser.value(steps);
    if (stepsValue != QLatin1String("simulated")) {
        const QUrl url(stepsValue, QUrl::StrictMode);
        if (!url.isValid() || (url.scheme() != QLatin1String("http") && url.scheme() != QLatin1String("https"))
            || url.host().isEmpty())
            return fail(QStringLiteral("--steps takes simulated or an http(s) URL, e.g. http://127.0.0.1:8089"));
        result.config.engine.stepsBaseUrl = url;
    }
    bool ok = false;
    result.config.engine.stepDelayMs = parser.value(stepDelay).toInt(&ok);
    // (Said as the range taken: "a number >= 0" was the answer to 1.5 and to 99999999999 too.)
    if (!ok || result.config.engine.stepDelayMs < 0)
        return fail(QStringLiteral("--step-delay must be a whole number of milliseconds from 0 to %1 (got %2)")
                        .arg(std::numeric_limits<int>::max())
                        .arg(parser.value(stepDelay).left(40)));
    result.config.engine.retryCooldownSeconds = parser.value(cooldown).toInt(&ok);
    if (!ok || result.config.engine.retryCooldownSeconds < 0)
        return fail(QStringLiteral("--retry-cooldown must be a whole number of seconds from 0 to %1 (got %2)")
                        .arg(std::numeric_limits<int>::max())
                        .arg(parser.value(cooldown).left(40)));
    if (!parseRateLimit(parser.value(rateLimit), &result.config, &error))
        return fail(error);
    if (!parseMaxStreams(parser.value(maxStreams), &result.config, &error))
        return fail(error);
    const int answerSeconds = parser.value(orderAnswer).toInt(&ok);
    if (!ok || answerSeconds < 1 || answerSeconds > 3600)
        return fail(QStringLiteral("--order-answer-timeout must be a number of seconds from 1 to 3600"));
    result.config.submitAnswerMs = answerSeconds * 1000;
    if (!parser.isSet(secret))
        return fail(QStringLiteral("--auth-secret-file F is required: the server has no built-in secret. "
                                   "Put a random key in a file, e.g. head -c 32 /dev/urandom | base64 > secret"));
    result.config.authKey = JwtVerifier::readKeyFile(parser.value(secret), &error);
    if (result.config.authKey.isEmpty())
        return fail(error);
    if (result.config.authKey.size() < JwtVerifier::kMinKeyBytes)
        result.warnings.append(QStringLiteral("the key in %1 is %2 bytes; HS256 wants at least %3 (RFC 7518 §3.2), "
                                              "as a short key can be guessed offline from any token. Make one with: "
                                              "head -c 32 /dev/urandom | base64 > %1")
                                   .arg(parser.value(secret))
                                   .arg(result.config.authKey.size())
                                   .arg(JwtVerifier::kMinKeyBytes));
    return result;
}

QString ServerCommandLine::listenUrl(const QString &host, quint16 port)
{
    const bool ipv6 = host.contains(QLatin1Char(':'));
    return QStringLiteral("http://%1%2%3:%4")
        .arg(ipv6 ? QStringLiteral("[") : QString(), host, ipv6 ? QStringLiteral("]") : QString())
        .arg(port);
}
