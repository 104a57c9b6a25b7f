#include "sourcespec.h"

#include "databasesource.h"
#include "embeddedsource.h"
#include "remotesource.h"

#include <QCoreApplication>

namespace {
QString tr(const char *text)
{
    return QCoreApplication::translate("SourceSpec", text);
}
} // namespace

QString SourceSpec::kindKey(Kind kind)
{
    switch (kind) {
    case Kind::Embedded:
        return QStringLiteral("embedded");
    case Kind::Remote:
        return QStringLiteral("remote");
    case Kind::Database:
        return QStringLiteral("database");
    }
    return {};
}

std::optional<SourceSpec::Kind> SourceSpec::kindFromKey(const QString &key)
{
    for (Kind k : {Kind::Embedded, Kind::Remote, Kind::Database}) {
        if (kindKey(k) == key)
            return k;
    }
    return std::nullopt;
}

QUrl SourceSpec::serverUrlFromText(const QString &text)
{
    QString t = text.trimmed();
    if (!t.contains(QLatin1String("://")))
        t.prepend(QLatin1String("http://"));
    return QUrl(t, QUrl::StrictMode);
}

QString SourceSpec::validate() const
{
    switch (kind) {
    case Kind::Embedded:
        return {};
    case Kind::Remote:
        if (!serverUrl.isValid() || serverUrl.host().isEmpty()
            || (serverUrl.scheme() != QLatin1String("http") && serverUrl.scheme() != QLatin1String("https")))
            return tr("Enter the server address as http://HOST:PORT.");
        if (token.trimmed().isEmpty())
            return tr("Enter a SUPPORT token (saga-server token --subject UUID --role SUPPORT "
                      "--auth-secret-file FILE prints one).");
        return {};
    case Kind::Database: {
        QString error;
        // The parser's sentence says what is wrong and which forms work (both kinds).
        if (!DatabaseUrl::parse(databaseUrl, &error))
            return !error.isEmpty() ? error
                                    : tr("The database URL is not valid; use postgresql://USER@HOST:PORT/DB or "
                                         "sqlite:PATH.");
        return {};
    }
    }
    return {};
}

ProgressSource *SourceSpec::create(QObject *parent, QString *error) const
{
    const QString problem = validate();
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        return nullptr;
    }
    switch (kind) {
    case Kind::Embedded: {
        EngineConfig config;
        config.database = embeddedDatabase;
        config.stepDelayMs = stepDelayMs;
        config.retryCooldownSeconds = 5;
        return new EmbeddedSource(config, parent);
    }
    case Kind::Remote:
        return new RemoteSource(serverUrl, token, parent);
    case Kind::Database:
        return new DatabaseSource(*DatabaseUrl::parse(databaseUrl, nullptr), parent);
    }
    return nullptr;
}
