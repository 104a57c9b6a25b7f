#include "databaseurl.h"

#include <QCoreApplication>
#include <QDir>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QStandardPaths>
#include <QUrl>

#include <algorithm>
#include <cctype>

namespace {

// The libpq connection keywords a URL may carry (libpq 15, "Parameter Key
// Words"), with what their values must look like. Values are checked here so a
// mistyped one stops the program at start (exit 2) instead of failing every
// connection later; libpq still has the last word.
enum class Value {
    Text,   // any non-empty text
    Count,  // a whole number, 0 or more (seconds, milliseconds or a count)
    Flag,   // 0 or 1
    Port,   // 1..65535
    Choice, // one of `choices`
};
struct Keyword {
    const char *name;
    Value value;
    const char *choices = nullptr; // Choice: separated by spaces
    bool secret = false;           // never shown (toString(), errors)
};
constexpr Keyword kKeywords[] = {
    {"host", Value::Text}, // a socket directory, e.g. ?host=/run/postgresql (then no host before the path)
    {"port", Value::Port},
    {"sslmode", Value::Choice, "disable allow prefer require verify-ca verify-full"},
    {"sslrootcert", Value::Text},
    {"sslcert", Value::Text},
    {"sslkey", Value::Text},
    {"sslpassword", Value::Text, nullptr, true},
    {"sslcrl", Value::Text},
    {"sslcrldir", Value::Text},
    {"sslsni", Value::Flag},
    {"ssl_min_protocol_version", Value::Choice, "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"},
    {"ssl_max_protocol_version", Value::Choice, "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"},
    {"channel_binding", Value::Choice, "disable prefer require"},
    {"gssencmode", Value::Choice, "disable prefer require"},
    {"requirepeer", Value::Text},
    {"passfile", Value::Text},
    {"connect_timeout", Value::Count},
    {"application_name", Value::Text},
    {"options", Value::Text},
    {"target_session_attrs", Value::Choice, "any read-write read-only primary standby prefer-standby"},
    {"keepalives", Value::Flag},
    {"keepalives_idle", Value::Count},
    {"keepalives_interval", Value::Count},
    {"keepalives_count", Value::Count},
    {"tcp_user_timeout", Value::Count},
};

// libpq keywords a URL's query must not carry, and where they belong instead.
struct Refused {
    const char *name;
    const char *why;
};
constexpr Refused kRefused[] = {
    {"user", "give the user before the host: postgresql://USER@HOST:PORT/DB"},
    {"password", "give the password before the host: postgresql://USER:PASSWORD@HOST:PORT/DB"},
    {"dbname", "give the database as the path: postgresql://USER@HOST:PORT/DB"},
    {"fallback_application_name", "the programs give their own name there; use application_name"},
    {"client_encoding", "the programs always talk UTF8"},
};

const Keyword *findKeyword(const QString &name)
{
    for (const Keyword &k : kKeywords) {
        if (name == QLatin1String(k.name))
            return &k;
    }
    return nullptr;
}

bool isSecret(const QString &name)
{
    const Keyword *k = findKeyword(name);
    return k && k->secret;
}

QString keywordList()
{
    QStringList names;
    for (const Keyword &k : kKeywords)
        names << QLatin1String(k.name);
    return names.join(QLatin1String(", "));
}

enum class Decoded { Ok, BadEscape, Nul, NotUtf8 };

// Percent-decodes one name or value of the query as libpq does (only %XX; a '+'
// stays a '+'). Refuses a '%' without two hex digits after it, a NUL (%00), and
// bytes that are not UTF-8.
Decoded percentDecode(const QString &raw, QString *out)
{
    const QByteArray in = raw.toUtf8();
    QByteArray bytes;
    bytes.reserve(in.size());
    auto hexDigit = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    for (qsizetype i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            bytes += in[i];
            continue;
        }
        if (i + 2 >= in.size() || !hexDigit(in[i + 1]) || !hexDigit(in[i + 2]))
            return Decoded::BadEscape;
        const char byte = QByteArray::fromHex(in.mid(i + 1, 2)).at(0);
        if (byte == '\0')
            return Decoded::Nul;
        bytes += byte;
        i += 2;
    }
    QString text = QString::fromUtf8(bytes);
    if (text.toUtf8() != bytes) // what is not UTF-8 became U+FFFD
        return Decoded::NotUtf8;
    *out = std::move(text);
    return Decoded::Ok;
}

// Why `value` does not fit keyword `k`; empty when it does.
QString checkValue(const Keyword &k, const QString &value)
{
    const QString name = QLatin1String(k.name);
    if (value.isEmpty())
        return QStringLiteral("Parameter '%1' in the PostgreSQL URL has no value.").arg(name);
    // Qt's PostgreSQL driver turns every ';' of its connect options into a space.
    if (value.contains(QLatin1Char(';')))
        return QStringLiteral("The value of parameter '%1' cannot contain ';' (Qt's PostgreSQL driver cannot pass it on).")
            .arg(name);
    static const QRegularExpression digits(QStringLiteral("^[0-9]{1,9}$"));
    switch (k.value) {
    case Value::Text:
        if (name == QLatin1String("host") && value.contains(QLatin1Char(',')))
            return QStringLiteral("Parameter 'host' in the PostgreSQL URL names one host (several are not supported).");
        return {};
    case Value::Count:
        if (!digits.match(value).hasMatch())
            return QStringLiteral("Parameter '%1' in the PostgreSQL URL takes a whole number (0 or more), not '%2'.")
                .arg(name, value);
        return {};
    case Value::Flag:
        if (value != QLatin1String("0") && value != QLatin1String("1"))
            return QStringLiteral("Parameter '%1' in the PostgreSQL URL takes 0 or 1, not '%2'.").arg(name, value);
        return {};
    case Value::Port:
        if (!digits.match(value).hasMatch() || value.toInt() < 1 || value.toInt() > 65535)
            return QStringLiteral("Parameter '%1' in the PostgreSQL URL takes one port number (1 to 65535), not '%2'.")
                .arg(name, value);
        return {};
    case Value::Choice: {
        const QStringList choices = QString::fromLatin1(k.choices).split(QLatin1Char(' '));
        if (!choices.contains(value))
            return QStringLiteral("Parameter '%1' in the PostgreSQL URL takes one of %2, not '%3'.")
                .arg(name, choices.join(QLatin1String(", ")), value);
        return {};
    }
    }
    return {};
}

// Reads `query` (the text after the URL's '?') into `url`: the connection
// parameters, and host and port when the query gives them. Empty when it fits.
QString parseQuery(const QString &query, DatabaseUrl *url, bool hostInUrl, bool portInUrl)
{
    for (const QString &item : query.split(QLatin1Char('&'))) {
        if (item.isEmpty())
            continue; // "?", "a=1&&b=2": nothing is given there
        const qsizetype equals = item.indexOf(QLatin1Char('='));
        QString name;
        const Decoded nameDecoded = percentDecode(equals < 0 ? item : item.left(equals), &name);
        if (nameDecoded != Decoded::Ok)
            return QStringLiteral("A parameter name in the PostgreSQL URL is not valid percent-encoding (%1); "
                                  "write a '%' as %2.")
                .arg(equals < 0 ? item : item.left(equals), QLatin1String("%25"));
        if (equals < 0)
            return QStringLiteral("Parameter '%1' in the PostgreSQL URL has no value (write %1=VALUE).").arg(name);
        for (const Refused &r : kRefused) {
            if (name == QLatin1String(r.name))
                return QStringLiteral("Parameter '%1' is not taken in the PostgreSQL URL's query; %2.")
                    .arg(name, QLatin1String(r.why));
        }
        const Keyword *keyword = findKeyword(name);
        if (!keyword)
            return QStringLiteral("Unknown parameter '%1' in the PostgreSQL URL; it takes %2.").arg(name, keywordList());
        QString value;
        switch (percentDecode(item.mid(equals + 1), &value)) {
        case Decoded::Ok:
            break;
        case Decoded::BadEscape:
            return QStringLiteral("The value of parameter '%1' in the PostgreSQL URL has malformed percent-encoding "
                                  "(a '%' must be followed by two hex digits; write a '%' as %2).")
                .arg(name, QLatin1String("%25"));
        case Decoded::Nul:
            return QStringLiteral("The value of parameter '%1' in the PostgreSQL URL contains %2 (a NUL byte).")
                .arg(name, QLatin1String("%00"));
        case Decoded::NotUtf8:
            return QStringLiteral("The value of parameter '%1' in the PostgreSQL URL is not UTF-8 once decoded.").arg(name);
        }
        const bool twice = (name == QLatin1String("host") && hostInUrl) || (name == QLatin1String("port") && portInUrl)
                           || !url->parameter(name).isNull();
        if (twice)
            return QStringLiteral("Parameter '%1' is given twice in the PostgreSQL URL.").arg(name);
        if (const QString why = checkValue(*keyword, value); !why.isEmpty())
            return why;
        if (name == QLatin1String("host")) {
            url->host = value;
            hostInUrl = true;
        } else if (name == QLatin1String("port")) {
            url->port = value.toInt();
            portInUrl = true;
        } else {
            url->parameters.append({name, value});
        }
    }
    return {};
}

// libpq's quoting of a conninfo value: in single quotes, with \ and ' escaped.
QString conninfoQuoted(QString value)
{
    value.replace(QLatin1Char('\\'), QLatin1String("\\\\"));
    value.replace(QLatin1Char('\''), QLatin1String("\\'"));
    return QLatin1Char('\'') + value + QLatin1Char('\'');
}

QString urlEncoded(const QString &text)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(text));
}

} // namespace

std::optional<DatabaseUrl> DatabaseUrl::parse(const QString &text, QString *error)
{
    auto fail = [error](const QString &why) -> std::optional<DatabaseUrl> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    const QString trimmed = text.trimmed();
    if (trimmed.startsWith(QLatin1String("sqlite:"))) {
        DatabaseUrl url;
        url.kind = Kind::Sqlite;
        url.path = trimmed.mid(7);
        if (url.path.startsWith(QLatin1String("//")))
            url.path = url.path.mid(2);
        if (const qsizetype question = url.path.indexOf(QLatin1Char('?')); question >= 0) {
            const QString query = url.path.mid(question + 1);
            const QString first = query.section(QLatin1Char('&'), 0, 0).section(QLatin1Char('='), 0, 0);
            return fail(QStringLiteral("The SQLite URL takes no parameters (it has '%1' after its '?'); "
                                       "use sqlite:PATH with a file name without '?'.")
                            .arg(first));
        }
        if (url.path.isEmpty())
            return fail(QStringLiteral("The SQLite URL needs a file path, e.g. sqlite:/tmp/saga.db."));
        // SQLite's names for a database in no file: every connection would get its own,
        // empty, gone at exit (the engine's, each reader's), so nothing placed is kept.
        if (url.path == QLatin1String(":memory:") || url.path.startsWith(QLatin1String("file:")))
            return fail(QStringLiteral("The SQLite URL needs a file path, not '%1' (every connection would have a "
                                       "database of its own and nothing would be kept); e.g. sqlite:/tmp/saga.db.")
                            .arg(url.path));
        return url;
    }
    if (trimmed.startsWith(QLatin1String("postgresql://")) || trimmed.startsWith(QLatin1String("postgres://"))) {
        // libpq has no '#' part: QUrl would drop what follows it without a word.
        if (trimmed.contains(QLatin1Char('#')))
            return fail(QStringLiteral("The PostgreSQL URL has a '#' part, which would be ignored; write a '#' in a "
                                       "password or value as %23."));
        const qsizetype question = trimmed.indexOf(QLatin1Char('?'));
        const QUrl qurl(question < 0 ? trimmed : trimmed.left(question), QUrl::StrictMode);
        if (!qurl.isValid())
            return fail(QStringLiteral("The PostgreSQL URL is not valid; use postgresql://USER@HOST:PORT/DB."));
        DatabaseUrl url;
        url.kind = Kind::Postgres;
        url.user = qurl.userName();
        url.password = qurl.password();
        url.host = qurl.host();
        url.port = qurl.port(5432);
        url.database = qurl.path().mid(1);
        if (question >= 0) {
            const QString why = parseQuery(trimmed.mid(question + 1), &url, !url.host.isEmpty(), qurl.port() != -1);
            if (!why.isEmpty())
                return fail(why);
        }
        if (url.host.isEmpty())
            return fail(QStringLiteral("The PostgreSQL URL needs a host (or ?host=SOCKET_DIRECTORY); use "
                                       "postgresql://USER@HOST:PORT/DB."));
        if (url.database.isEmpty())
            return fail(QStringLiteral("The PostgreSQL URL needs a database name, e.g. postgresql://saga@localhost:5432/saga."));
        return url;
    }
    return fail(QStringLiteral("Unknown database URL; use sqlite:PATH or postgresql://USER@HOST:PORT/DB."));
}

DatabaseUrl DatabaseUrl::defaultSqlite()
{
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    if (dir.isEmpty())
        dir = QDir::homePath() + QStringLiteral("/.local/share/saga-console");
    DatabaseUrl url;
    url.kind = Kind::Sqlite;
    url.path = dir + QStringLiteral("/saga-console.sqlite");
    return url;
}

QString DatabaseUrl::toString() const
{
    if (kind == Kind::Sqlite)
        return QStringLiteral("sqlite:") + path;
    QStringList query;
    // A socket directory is no host name: it goes in the query, as parse() takes it.
    const bool socketDirectory = host.startsWith(QLatin1Char('/'));
    QString hostPart = socketDirectory ? QString() : host;
    if (socketDirectory)
        query << QStringLiteral("host=") + urlEncoded(host);
    else if (host.contains(QLatin1Char(':')))
        hostPart = QLatin1Char('[') + host + QLatin1Char(']'); // IPv6
    for (const auto &[name, value] : parameters) {
        if (!isSecret(name))
            query << name + QLatin1Char('=') + urlEncoded(value);
    }
    const QString userPart = user.isEmpty() ? QString() : urlEncoded(user) + QLatin1Char('@');
    QString text = QStringLiteral("postgresql://%1%2:%3/%4").arg(userPart, hostPart).arg(port).arg(urlEncoded(database));
    if (!query.isEmpty())
        text += QLatin1Char('?') + query.join(QLatin1Char('&'));
    return text;
}

QString DatabaseUrl::driverName() const
{
    return kind == Kind::Sqlite ? QStringLiteral("QSQLITE") : QStringLiteral("QPSQL");
}

QString DatabaseUrl::parameter(const QString &keyword) const
{
    for (const auto &[name, value] : parameters) {
        if (name == keyword)
            return value;
    }
    return {};
}

QString DatabaseUrl::connectOptions() const
{
    if (!isPostgres())
        return {};
    // Give up connecting after 5 s; TCP keepalives and a 30 s limit on
    // unacknowledged data, so a server whose host or network went away fails the
    // connection (Unavailable: pause, reconnect) in well under a minute instead of
    // the kernel's ~15 minutes of retransmissions; the program's name in
    // pg_stat_activity unless the URL (or PGAPPNAME) names the application.
    QList<std::pair<QString, QString>> options{
        {QStringLiteral("connect_timeout"), QStringLiteral("5")},
        {QStringLiteral("keepalives"), QStringLiteral("1")},
        {QStringLiteral("keepalives_idle"), QStringLiteral("10")},
        {QStringLiteral("keepalives_interval"), QStringLiteral("5")},
        {QStringLiteral("keepalives_count"), QStringLiteral("3")},
        {QStringLiteral("tcp_user_timeout"), QStringLiteral("30000")},
    };
    QString app = QCoreApplication::applicationName();
    app.remove(QRegularExpression(QStringLiteral("[^A-Za-z0-9_.-]")));
    if (!app.isEmpty())
        options.append({QStringLiteral("fallback_application_name"), app.left(60)});
    for (const auto &[name, value] : parameters) {
        auto same = std::find_if(options.begin(), options.end(), [&name = name](const auto &o) { return o.first == name; });
        if (same != options.end())
            same->second = value;
        else
            options.append({name, value});
    }
    QStringList parts;
    for (const auto &[name, value] : std::as_const(options))
        parts << name + QLatin1Char('=') + conninfoQuoted(value);
    return parts.join(QLatin1Char(';'));
}

QSqlDatabase DatabaseUrl::addConnection(const QString &connectionName) const
{
    QSqlDatabase db = QSqlDatabase::addDatabase(driverName(), connectionName);
    if (isPostgres()) {
        db.setHostName(host);
        db.setPort(port);
        db.setDatabaseName(database);
        db.setUserName(user);
        db.setPassword(password);
        db.setConnectOptions(connectOptions());
    } else {
        db.setDatabaseName(path);
    }
    return db;
}
