#pragma once

// Small synchronous client of WireMock's admin API for the tests that stub step
// services or read WireMock's request journal.

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QTest>
#include <QUrl>

class WireMockAdmin
{
public:
    explicit WireMockAdmin(const QUrl &base)
        : m_base(base)
    {
    }

    QJsonObject call(const QByteArray &method, const QString &path, const QJsonObject &body = {})
    {
        QNetworkRequest request(m_base.resolved(QUrl(path)));
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        QNetworkReply *reply = m_nam.sendCustomRequest(request, method,
                                                       body.isEmpty() ? QByteArray() : QJsonDocument(body).toJson());
        if (!QTest::qWaitFor([reply] { return reply->isFinished(); }, 30000)) {
            reply->abort();
        }
        const QByteArray payload = reply->readAll();
        reply->deleteLater();
        return QJsonDocument::fromJson(payload).object();
    }

    // Adds a stub that answers the first matching request of `path` with `response`
    // (e.g. {"fault": "CONNECTION_RESET_BY_PEER"}), later ones fall through to the
    // regular mappings.
    void failFirst(const QString &scenario, const QString &urlPath, const QJsonObject &response)
    {
        call("POST", QStringLiteral("/__admin/mappings"),
             QJsonObject{{"priority", 0},
                         {"scenarioName", scenario},
                         {"requiredScenarioState", "Started"},
                         {"newScenarioState", "done"},
                         {"request", QJsonObject{{"method", "POST"}, {"urlPath", urlPath}}},
                         {"response", response}});
    }

    // Answers every `method` request of `urlPath` ("ANY" for every method) with `response`.
    void stub(const QString &method, const QString &urlPath, const QJsonObject &response)
    {
        call("POST", QStringLiteral("/__admin/mappings"),
             QJsonObject{{"request", QJsonObject{{"method", method}, {"urlPath", urlPath}}}, {"response", response}});
    }

    void failAlways(const QString &urlPathPattern, const QJsonObject &response)
    {
        call("POST", QStringLiteral("/__admin/mappings"),
             QJsonObject{{"priority", 0},
                         {"request", QJsonObject{{"method", "POST"}, {"urlPathPattern", urlPathPattern}}},
                         {"response", response}});
    }

    struct Seen {
        QString method;
        QString path;
        QString key;
        int status = 0;
        qint64 loggedMs = 0; // when WireMock received it (ms since the epoch)
        QJsonObject body;    // the request's JSON body (empty if it had none)
        QJsonObject headers; // as WireMock logged them
        // The value of header `name` (any case; the first when repeated), "" when absent.
        QString header(QLatin1String name) const
        {
            for (auto it = headers.begin(); it != headers.end(); ++it) {
                if (it.key().compare(name, Qt::CaseInsensitive) == 0)
                    return it.value().isArray() ? it.value().toArray().first().toString() : it.value().toString();
            }
            return {};
        }
    };

    QVector<Seen> journal()
    {
        QVector<Seen> out;
        const QJsonArray requests = call("GET", QStringLiteral("/__admin/requests?limit=100000")).value("requests").toArray();
        for (const QJsonValue &v : requests) {
            const QJsonObject entry = v.toObject();
            const QJsonObject req = entry.value("request").toObject();
            Seen s;
            s.method = req.value("method").toString();
            s.path = QUrl(req.value("url").toString()).path();
            s.headers = req.value("headers").toObject();
            s.key = s.header(QLatin1String("Idempotency-Key"));
            s.status = entry.value("responseDefinition").toObject().value("status").toInt();
            s.loggedMs = qint64(req.value("loggedDate").toDouble());
            s.body = QJsonDocument::fromJson(req.value("body").toString().toUtf8()).object();
            if (!s.path.startsWith(QLatin1String("/__admin")))
                out.append(s);
        }
        std::reverse(out.begin(), out.end()); // WireMock lists newest first
        return out;
    }

    // Requests per Idempotency-Key.
    QMap<QString, int> countByKey()
    {
        QMap<QString, int> counts;
        for (const Seen &s : journal())
            counts[s.key] += 1;
        return counts;
    }

private:
    QUrl m_base;
    QNetworkAccessManager m_nam;
};
