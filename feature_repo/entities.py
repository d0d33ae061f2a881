"""The three axes of the marketplace: every feature belongs to a customer, a product or a seller."""

from feast import Entity
from feast.value_type import ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A marketplace customer (raw contract: customers.customer_id).",
    tags={"domain": "customer"},
)

product = Entity(
    name="product",
    join_keys=["product_id"],
    value_type=ValueType.STRING,
    description="A listed product (raw contract: products.product_id).",
    tags={"domain": "product"},
)

seller = Entity(
    name="seller",
    join_keys=["seller_id"],
    value_type=ValueType.STRING,
    description="A seller on the marketplace (raw contract: sellers.seller_id).",
    tags={"domain": "seller"},
)
