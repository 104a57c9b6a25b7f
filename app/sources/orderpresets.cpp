#include "orderpresets.h"

#include <QCoreApplication>

namespace {
struct Product {
    const char *id;
    const char *name;
    qint64 priceInCents;
};
constexpr Product kProducts[] = {
    {"sku-espresso-machine", "Espresso Machine", 24900}, {"sku-coffee-grinder", "Burr Grinder", 8900},
    {"sku-milk-jug", "Milk Jug", 1450},                  {"sku-beans-1kg", "Coffee Beans 1 kg", 2390},
    {"sku-tamper", "Steel Tamper", 3200},                {"sku-scale", "Brew Scale", 4599},
};
struct City {
    const char *street, *city, *state, *postalCode;
};
constexpr City kCities[] = {
    {"742 Evergreen Terrace", "Springfield", "OR", "97403"},
    {"1600 Amphitheatre Pkwy", "Mountain View", "CA", "94043"},
    {"350 Fifth Avenue", "New York", "NY", "10118"},
    {"1 Infinite Loop", "Cupertino", "CA", "95014"},
    {"221 Pine Street", "Seattle", "WA", "98101"},
};
QString tr(const char *text)
{
    return QCoreApplication::translate("OrderPresets", text);
}
} // namespace

namespace OrderPresets {

QString displayName(OrderPreset preset)
{
    switch (preset) {
    case OrderPreset::HappyPath:
        return tr("Happy path");
    case OrderPreset::OutOfStock:
        return tr("Out of stock");
    case OrderPreset::DeclinedCard:
        return tr("Declined card");
    case OrderPreset::Fraud:
        return tr("Fraud");
    case OrderPreset::InvalidAddress:
        return tr("Invalid address");
    case OrderPreset::UndeliverableCountry:
        return tr("Undeliverable country");
    }
    return {};
}

QString expectedOutcome(OrderPreset preset)
{
    switch (preset) {
    case OrderPreset::HappyPath:
        return tr("All three steps complete.");
    case OrderPreset::OutOfStock:
        return tr("Inventory fails (INVENTORY_UNAVAILABLE); nothing to compensate.");
    case OrderPreset::DeclinedCard:
        return tr("Payment fails (PAYMENT_DECLINED); inventory is released. Retryable after "
                  "updating the payment method.");
    case OrderPreset::Fraud:
        return tr("Payment fails (FRAUD_DETECTED); inventory is released. Not retryable.");
    case OrderPreset::InvalidAddress:
        return tr("Shipping fails (INVALID_ADDRESS); payment is voided and inventory released.");
    case OrderPreset::UndeliverableCountry:
        return tr("Shipping fails (SHIPPING_UNAVAILABLE); payment is voided and inventory released.");
    }
    return {};
}

OrderRequest make(OrderPreset preset, QRandomGenerator *random)
{
    QRandomGenerator *rng = random ? random : QRandomGenerator::global();
    OrderRequest r;
    r.customerId = QUuid::createUuid();
    const int itemCount = 1 + int(rng->bounded(2));
    for (int i = 0; i < itemCount; ++i) {
        const Product &p = kProducts[rng->bounded(int(std::size(kProducts)))];
        r.items.append(OrderItem{QString::fromLatin1(p.id), QString::fromLatin1(p.name),
                                 1 + int(rng->bounded(3)), p.priceInCents});
    }
    r.paymentMethodId = QStringLiteral("pm-visa-4242");
    const City &c = kCities[rng->bounded(int(std::size(kCities)))];
    r.shippingAddress = ShippingAddress{QString::fromLatin1(c.street), QString::fromLatin1(c.city),
                                        QString::fromLatin1(c.state),
                                        QString::fromLatin1(c.postalCode), QStringLiteral("US")};
    switch (preset) {
    case OrderPreset::HappyPath:
        break;
    case OrderPreset::OutOfStock:
        r.items.first().productId = QStringLiteral("out-of-stock-product");
        r.items.first().productName = QStringLiteral("Limited Edition Kettle");
        break;
    case OrderPreset::DeclinedCard:
        r.paymentMethodId = QStringLiteral("declined-card");
        break;
    case OrderPreset::Fraud:
        r.paymentMethodId = QStringLiteral("fraud-card");
        break;
    case OrderPreset::InvalidAddress:
        r.shippingAddress.postalCode = QStringLiteral("00000");
        break;
    case OrderPreset::UndeliverableCountry:
        r.shippingAddress.country = QStringLiteral("XX");
        r.shippingAddress.state = QStringLiteral("--");
        break;
    }
    return r;
}

} // namespace OrderPresets
