#include "routematcher.h"

#include <QList>

namespace {

using Route = RouteMatcher::Route;
using Method = RouteMatcher::Method;

RouteMatcher::Match make(Route route, Method method, const char *allow, bool getOk, bool postOk = false,
                         bool putOk = false)
{
    RouteMatcher::Match m;
    m.route = route;
    m.allow = QByteArray(allow);
    if (getOk)
        m.allow.replace("GET", "GET, HEAD"); // HEAD is answered wherever GET is
    m.methodAllowed = (method == Method::Get && getOk) || (method == Method::Post && postOk)
                      || (method == Method::Put && putOk);
    return m;
}

} // namespace

bool RouteMatcher::isUuidText(QStringView text)
{
    if (text.size() == 38 && text.front() == u'{' && text.back() == u'}')
        text = text.mid(1, 36);
    if (text.size() != 36)
        return false;
    for (qsizetype i = 0; i < 36; ++i) {
        const QChar c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != u'-')
                return false;
        } else if (!((c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F'))) {
            return false;
        }
    }
    return true;
}

QUuid RouteMatcher::parseUuid(QStringView text)
{
    return isUuidText(text) ? QUuid::fromString(text) : QUuid();
}

RouteMatcher::Match RouteMatcher::match(Method method, QStringView path)
{
    while (path.size() > 1 && path.endsWith(u'/'))
        path.chop(1);

    if (path == u"/health" || path == u"/api/health")
        return make(Route::Health, method, "GET", true);
    if (path == u"/metrics" || path == u"/api/metrics")
        return make(Route::Metrics, method, "GET", true);
    if (path == u"/api/simulator/faults") {
        Match m = make(Route::GetFaults, method, "GET, PUT", true, false, true);
        if (method == Method::Put)
            m.route = Route::PutFaults;
        return m;
    }
    if (!path.startsWith(u"/api/orders"))
        return {};
    QStringView rest = path.mid(11);
    if (rest.isEmpty()) {
        Match m = make(Route::ListOrders, method, "GET, POST", true, true);
        if (method == Method::Post)
            m.route = Route::CreateOrder;
        return m;
    }
    if (!rest.startsWith(u'/'))
        return {};
    rest = rest.mid(1);

    QList<QStringView> parts;
    for (qsizetype start = 0;;) {
        const qsizetype slash = rest.indexOf(u'/', start);
        parts.append(rest.mid(start, slash < 0 ? -1 : slash - start));
        if (slash < 0)
            break;
        start = slash + 1;
    }
    for (const QStringView part : parts) {
        if (part.isEmpty())
            return {};
    }

    if (parts.size() == 1 && parts[0] == u"stream")
        return make(Route::AllOrdersStream, method, "GET", true);
    if (parts[0] == u"customer") {
        if (parts.size() != 2)
            return {};
        Match m = make(Route::CustomerOrders, method, "GET", true);
        m.idText = parts[1].toString();
        m.idField = QStringLiteral("customerId");
        m.idValid = isUuidText(parts[1]);
        m.id = parseUuid(parts[1]);
        return m;
    }

    Match m;
    if (parts.size() == 1)
        m = make(Route::Order, method, "GET", true);
    else if (parts.size() == 2 && parts[1] == u"status")
        m = make(Route::Status, method, "GET", true);
    else if (parts.size() == 3 && parts[1] == u"status" && parts[2] == u"stream")
        m = make(Route::StatusStream, method, "GET", true);
    else if (parts.size() == 2 && parts[1] == u"history")
        m = make(Route::History, method, "GET", true);
    else if (parts.size() == 2 && parts[1] == u"events")
        m = make(Route::Events, method, "GET", true);
    else if (parts.size() == 2 && parts[1] == u"retry")
        m = make(Route::Retry, method, "POST", false, true);
    else if (parts.size() == 3 && parts[1] == u"retry" && parts[2] == u"eligibility")
        m = make(Route::RetryEligibility, method, "GET", true);
    else if (parts.size() == 3 && parts[1] == u"retry" && parts[2] == u"history")
        m = make(Route::RetryHistory, method, "GET", true);
    else
        return {};
    m.idText = parts[0].toString();
    m.idField = QStringLiteral("orderId");
    m.idValid = isUuidText(parts[0]);
    m.id = parseUuid(parts[0]);
    return m;
}
