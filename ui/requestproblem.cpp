#include "requestproblem.h"

#include <QCoreApplication>
#include <QHash>

QString requestProblemText(const QString &field, const QString &error)
{
    const auto tr = [](const char *text) { return QCoreApplication::translate("RequestProblem", text); };
    const QHash<QString, QString> labels{
        {QStringLiteral("customerId"), tr("Customer id")},
        {QStringLiteral("items"), tr("Product id")},
        {QStringLiteral("productId"), tr("Product id")},
        {QStringLiteral("productName"), tr("Product name")},
        {QStringLiteral("quantity"), tr("Quantity")},
        {QStringLiteral("unitPriceInCents"), tr("Unit price")},
        {QStringLiteral("paymentMethodId"), tr("Payment method")},
        {QStringLiteral("street"), tr("Street")},
        {QStringLiteral("city"), tr("City")},
        {QStringLiteral("state"), tr("State")},
        {QStringLiteral("postalCode"), tr("Postal code")},
        {QStringLiteral("country"), tr("Country")},
    };
    const QString key = field.section(QLatin1Char('.'), -1); // items[0].productId -> productId
    return tr("%1 %2.").arg(labels.value(key, field), error);
}
